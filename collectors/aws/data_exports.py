"""``aws_data_exports``: a CUR 2.0 or FOCUS Data Export in S3, period by period.

An export folder looks like ``<prefix>/data/BILLING_PERIOD=YYYY-MM/*.parquet|csv.gz`` plus, per
period, a manifest under ``<prefix>/metadata/BILLING_PERIOD=YYYY-MM/`` naming the files of the
current delivery.  AWS re-delivers a period several times a day while it is open and restates
closed months for about two weeks, sometimes with a different set of files.

So each run lists the periods, fingerprints each one by the (key, ETag) of its current files —
the manifest's list when there is one, so stale files of an older delivery are ignored — and
loads only periods whose fingerprint changed since the last successful load.  A changed period
is streamed object by object to a temporary folder (bounded memory; Parquet needs random
access anyway) and imported through the same readers and slice-replacing loader as
``costagent import``; the new fingerprint is written in the same transaction, so a crash
leaves both the rows and the memory of the previous delivery.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.state import put_state, states
from collectors.aws.session import AwsContext, AwsSourceConfig, call, pages
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.formats.deliveries import (
    DeliveryError,
    IncompleteDelivery,
    current_files,
    manifest_entries,
)
from collectors.formats.files import DATA_SUFFIXES

log = logging.getLogger(__name__)
_PERIOD = re.compile(r"BILLING_PERIOD=(\d{4})-(\d{2})")
_CHUNK = 1 << 20


class AwsDataExportsConfig(AwsSourceConfig):
    type: Literal["aws_data_exports"] = "aws_data_exports"
    bucket: str = Field(min_length=3, description="the export's bucket", examples=["acme-billing"])
    prefix: str = Field("", description="the export's folder (holding data/ and metadata/)")

    @field_validator("prefix")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip("/")

    @field_validator("role_arns")
    @classmethod
    def _one_role(cls, v: list[str]) -> list[str]:
        if len(v) > 1:
            raise ValueError("an export lives in one bucket: give at most one role to read it")
        return v


class AwsDataExportsCollector(Collector[AwsDataExportsConfig]):
    meta = CollectorMeta(
        summary="AWS Data Exports (CUR 2.0, FOCUS) in S3, each month replaced as AWS restates it",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        ctx = AwsContext(self.config)
        # The bucket's account: the base credentials, or the one role given to read it.
        account = next(iter(ctx.accounts()))
        s3 = ctx.client("s3", self.config.region, account.session)
        with engine.connect() as conn:
            known = states(conn, self.config.name, "period:")
        slices: list[str] = []
        rows = 0
        loaded: list[str] = []
        skipped: list[str] = []
        for period in self._periods(ctx, s3, since, until):
            files = self._current_files(ctx, s3, period)
            if not files:
                log.info("%s: period %s has no data files yet", self.config.name, period)
                continue
            fingerprint = {"files": files}
            if known.get(f"period:{period}") == fingerprint:
                skipped.append(period)
                continue
            summary = self._load_period(ctx, s3, engine, settings, period, fingerprint)
            slices.extend(summary.slices)
            rows += summary.total_rows
            loaded.append(period)
        return CollectResult(
            slices=tuple(slices),
            rows=rows,
            api_requests=ctx.total_requests,
            details={"loaded": loaded, "unchanged": skipped, "requests": dict(ctx.requests)},
        )

    # -- S3 listing ------------------------------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.config.prefix, *parts) if p)

    def _periods(
        self, ctx: AwsContext, s3: Any, since: date | None, until: date | None
    ) -> list[str]:
        """``YYYY-MM`` of every period folder under ``data/``, bounded by --since/--until."""
        found: list[str] = []
        for page in pages(
            ctx,
            s3.list_objects_v2,
            "ContinuationToken",
            "NextContinuationToken",
            Bucket=self.config.bucket,
            Prefix=self._key("data") + "/",
            Delimiter="/",
        ):
            for cp in page.get("CommonPrefixes", []):
                m = _PERIOD.search(cp["Prefix"])
                if m:
                    found.append(f"{m.group(1)}-{m.group(2)}")
        lo = since.strftime("%Y-%m") if since else None
        hi = until.strftime("%Y-%m") if until else None
        return sorted(p for p in found if (lo is None or p >= lo) and (hi is None or p <= hi))

    def _list(self, ctx: AwsContext, s3: Any, folder: str) -> dict[str, str]:
        """key → ETag of every object under ``folder``."""
        out: dict[str, str] = {}
        for page in pages(
            ctx,
            s3.list_objects_v2,
            "ContinuationToken",
            "NextContinuationToken",
            Bucket=self.config.bucket,
            Prefix=folder + "/",
        ):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = str(obj.get("ETag", "")).strip('"')
        return out

    def _current_files(self, ctx: AwsContext, s3: Any, period: str) -> dict[str, str]:
        """The period's current data files (key → ETag), chosen as ``costagent import`` of a
        synced folder chooses them (:func:`collectors.formats.deliveries.current_files`)."""
        folder = self._key("data", f"BILLING_PERIOD={period}")
        data = {
            k[len(folder) + 1 :]: v
            for k, v in self._list(ctx, s3, folder).items()
            if k.lower().endswith(DATA_SUFFIXES)
        }
        where = f"s3://{self.config.bucket}/{folder}"
        try:
            chosen = current_files(period, data, self._manifest_files(ctx, s3, period), where)
        except IncompleteDelivery as exc:
            raise RuntimeError(f"{exc}; the next run will retry") from None
        except DeliveryError as exc:
            raise RuntimeError(str(exc)) from None
        return {f"{folder}/{rel}": etag for rel, etag in chosen.items()}

    def _manifest_files(self, ctx: AwsContext, s3: Any, period: str) -> list[str] | None:
        folder = self._key("metadata", f"BILLING_PERIOD={period}")
        manifests = sorted(k for k in self._list(ctx, s3, folder) if k.endswith("Manifest.json"))
        if not manifests:
            return None
        body = call(ctx, s3.get_object, Bucket=self.config.bucket, Key=manifests[-1])["Body"]
        where = f"s3://{self.config.bucket}/{manifests[-1]}"
        try:
            doc = json.loads(body.read())
        except ValueError:
            raise RuntimeError(f"{where}: not a readable manifest (not JSON)") from None
        try:
            return manifest_entries(doc, f"BILLING_PERIOD={period}", where)
        except DeliveryError as exc:
            raise RuntimeError(str(exc)) from None

    # -- loading ---------------------------------------------------------------------------------
    def _load_period(
        self,
        ctx: AwsContext,
        s3: Any,
        engine: Engine,
        settings: CoreSettings,
        period: str,
        fingerprint: dict[str, Any],
    ) -> Any:
        from collectors.importer import import_paths

        def remember(conn: Connection) -> None:
            put_state(conn, self.config.name, f"period:{period}", fingerprint)

        with tempfile.TemporaryDirectory(prefix="costagent-") as tmp:
            paths = []
            for i, key in enumerate(sorted(fingerprint["files"])):
                path = Path(tmp) / f"{i:05d}-{PurePosixPath(key).name}"
                call(ctx, self._download, s3=s3, key=key, path=path)
                paths.append(path)
            log.info("%s: loading %s (%d files)", self.config.name, period, len(paths))
            return import_paths(
                engine,
                paths,
                settings,
                source=self.config.name,
                record=False,
                before_commit=remember,
            )

    def _download(self, s3: Any, key: str, path: Path) -> None:
        """Stream one object to disk in 1 MiB chunks (retried whole by :func:`call`)."""
        body = s3.get_object(Bucket=self.config.bucket, Key=key)["Body"]
        with open(path, "wb") as fh:
            for chunk in body.iter_chunks(_CHUNK):
                fh.write(chunk)
