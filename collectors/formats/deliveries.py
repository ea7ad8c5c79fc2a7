"""Which files of an export folder are the *current* delivery of their billing period.

AWS re-delivers a billing period many times.  A CUR 2.0 / FOCUS Data Export keeps
``data/BILLING_PERIOD=YYYY-MM/…`` and names the current files in
``metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`` (``dataFiles``, as ``s3://`` URIs); a
legacy CUR keeps each delivery in an assembly folder ``<report>/YYYYMMDD-YYYYMMDD/<assembly id>/``
and names the current one in ``<report>/YYYYMMDD-YYYYMMDD/<report>-Manifest.json``
(``reportKeys``).  Older deliveries stay in the bucket (and in a synced copy of it), so loading
every file of a period counts it twice or more.

One rule serves the S3 collector and ``costagent import`` of a folder alike
(:func:`current_files`): with a manifest, exactly the files it names (a named file that is
missing is an error: the delivery is incomplete); without one, the period's files must form a
single delivery (files of two delivery folders and no manifest to choose: an error naming
both, never a guess).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from collectors.formats.common import InputError

T = TypeVar("T")

#: Folder names that hold one billing period of an export.
_PERIOD_FOLDER = re.compile(r"^(?:BILLING_PERIOD=\d{4}-\d{2}|\d{8}-\d{8})$")


class DeliveryError(InputError):
    """The files of a period cannot be told apart into one current delivery."""


class IncompleteDelivery(DeliveryError):
    """The manifest names files that are not there (yet): the delivery is still arriving."""


def is_period_folder(name: str) -> bool:
    return bool(_PERIOD_FOLDER.match(name))


def manifest_entries(doc: object, period_folder: str, where: str) -> list[str]:
    """The files a manifest names, as paths relative to its period folder.

    Entries are ``s3://bucket/…/BILLING_PERIOD=2026-10/x.parquet`` URIs (CUR 2.0, FOCUS) or bucket
    keys ``…/20261001-20261101/<assembly>/x.csv.gz`` (legacy CUR): whatever precedes the period
    folder (bucket, prefix, a renamed sync target) does not matter.
    """
    names = doc.get("dataFiles") or doc.get("reportKeys") if isinstance(doc, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DeliveryError(where, "manifest has no list of data files (dataFiles / reportKeys)")
    out = []
    for name in names:
        parts = name.split("/")
        if period_folder not in parts:
            raise DeliveryError(where, f"manifest entry {name[:120]!r} is not in {period_folder}/")
        at = len(parts) - 1 - parts[::-1].index(period_folder)
        out.append("/".join(parts[at + 1 :]))
    return out


def current_files(
    period: str, files: Mapping[str, T], manifest: Sequence[str] | None, where: str
) -> dict[str, T]:
    """The subset of ``files`` (paths relative to the period folder → anything) to load.

    ``where`` names the period folder in messages (a local path or an ``s3://`` URI).
    """
    if manifest is not None:
        missing = sorted(set(manifest) - set(files))
        if missing:
            raise IncompleteDelivery(
                where,
                f"the manifest of {period} names {len(missing)} file(s) that are not there "
                f"(first: {missing[0]}); the delivery may still be arriving",
            )
        wanted = set(manifest)
        return {k: v for k, v in files.items() if k in wanted}
    deliveries = sorted({_delivery(k) for k in files})
    if len(deliveries) > 1:
        first, second = (f"{where}/{d}" if d else where for d in deliveries[:2])
        raise DeliveryError(
            where,
            f"two deliveries of {period} and no manifest saying which is current: {first} and "
            f"{second}; import the current one alone, or restore the period's Manifest.json",
        )
    return dict(files)


def _delivery(relative: str) -> str:
    """The delivery folder of a file (its first folder below the period; '' if directly in)."""
    return relative.split("/", 1)[0] if "/" in relative else ""


def local_manifest(folder: Path) -> Path | None:
    """The manifest of a period folder on disk, where AWS puts it for each export kind.

    CUR 2.0 / FOCUS: ``<export>/metadata/BILLING_PERIOD=…/*Manifest.json`` beside
    ``<export>/data/BILLING_PERIOD=…``.  Legacy CUR: ``*-Manifest.json`` directly in the period
    folder (each assembly folder holds a copy of its own manifest, which says nothing about
    which assembly is current).
    """
    candidates: list[Path] = []
    if folder.parent.name == "data":
        meta = folder.parent.parent / "metadata" / folder.name
        if meta.is_dir():
            candidates = sorted(p for p in meta.iterdir() if _is_manifest(p))
    else:
        candidates = sorted(p for p in folder.iterdir() if _is_manifest(p))
    return candidates[-1] if candidates else None


def _is_manifest(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith("manifest.json")


def select_local(folder: Path, data_files: Sequence[Path]) -> list[Path]:
    """The current delivery among ``data_files`` (all below the period ``folder``)."""
    manifest_path = local_manifest(folder)
    entries = None
    if manifest_path is not None:
        try:
            doc = json.loads(manifest_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise DeliveryError(str(manifest_path), f"not a readable manifest: {exc}") from None
        entries = manifest_entries(doc, folder.name, str(manifest_path))
    by_rel = {p.relative_to(folder).as_posix(): p for p in data_files}
    chosen = current_files(_period_label(folder.name), by_rel, entries, str(folder))
    return sorted(chosen.values())


def _period_label(folder: str) -> str:
    """``BILLING_PERIOD=2026-10`` → ``2026-10``; ``20180201-20180301`` → ``2018-02``."""
    if folder.startswith("BILLING_PERIOD="):
        return folder.split("=", 1)[1]
    return f"{folder[:4]}-{folder[4:6]}"
