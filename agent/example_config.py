"""The commented example configuration, generated from the settings schema.

Why generated: a hand-kept example drifts from the code the day a key is added.  This module
walks :class:`agent.config.Settings` — the core sections, one ``[[sources]]`` block per
registered source type and one ``[rules.<rule_id>]`` block per registered rule — and writes
every key with its ``Field(description=...)`` as a comment and its default (or, where there is
no default, its ``Field(examples=[...])``) as a TOML value.  ``costagent init`` writes this text
and ``deploy/costagent.example.toml`` is it, checked in; a test fails when the two differ.

Regenerate the checked-in file and the README's generated tables with::

    python -m agent.templates --write

Every key is commented out except a required key of a section that is itself active, so the file
loads as written; :func:`render` with ``active=True`` gives the same text with every setting
uncommented, which the tests check value by value against the schema.
"""

from __future__ import annotations

import enum
import json
import math
import re
import textwrap
import types
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from agent.config import Settings
from collectors.base import source_types
from rules.base import registered_rules

WIDTH = 99
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PATH = ROOT / "deploy" / "costagent.example.toml"
REGENERATE = "python -m agent.templates --write"
SECRET_PLACEHOLDER = "<secret>"
RULER = "# " + "-" * (WIDTH - 2)

PREAMBLE = f"""\
# costagent configuration, generated from the settings schema by
# `{REGENERATE}`: do not edit deploy/costagent.example.toml by
# hand (a test compares it with the code).
#
# Every key is shown with its description and a value: its default or, where the default says
# little (unset, empty), an example. A commented-out key takes its default. Uncomment and change
# what you need: a misspelt key or a wrong type is an error that names the key (`costagent
# status` checks the file without starting anything).
# Precedence: --db > environment (COSTAGENT_DATABASE_URL, COSTAGENT_<SECTION>__<KEY>) > file.
# Secrets never go here: SMTP login, Slack webhook URL / bot token, API keys and the database
# password come from the environment or a secrets file (see deploy/costagent.env.example).
"""

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# --- TOML values ------------------------------------------------------------------------------


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else a quoted string."""
    return key if _BARE_KEY.match(key) else toml_string(key)


def toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes, \\uXXXX for controls).
    return json.dumps(text, ensure_ascii=False)


def toml_value(value: Any) -> str:
    """One value as TOML source (inline tables and arrays on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation, which TOML lacks for decimals
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, PurePath):
        return toml_string(str(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump(by_alias=True, exclude_none=True))
    if isinstance(value, dict):
        items = [f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}: {value!r}")


def _array_lines(key: str, value: list[Any] | tuple[Any, ...]) -> list[str]:
    """A long array over several lines (TOML allows it; an inline table must stay on one)."""
    items = [toml_value(v) for v in value]
    lines, current = [f"{key} = ["], "   "
    for item in items:
        if len(current) + len(item) + 2 > WIDTH - 2 and current.strip():
            lines.append(current.rstrip())
            current = "   "
        current += f" {item},"
    lines.append(current.rstrip())
    return [*lines, "]"]


# --- the schema walk --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One key the example shows: where, which model field, and the value written."""

    table: str
    model: type[BaseModel]
    name: str
    value: Any


@dataclass
class _Out:
    """The lines so far — each with whether it is a commented-out setting, so that
    :func:`render` can uncomment exactly those — and the keys shown."""

    lines: list[tuple[str, bool]] = field(default_factory=list)
    shown: list[Shown] = field(default_factory=list)

    def text(self, *lines: str) -> None:
        self.lines += [(line, False) for line in lines]

    def comment(self, text: str) -> None:
        self.text(*(f"# {line}" for line in textwrap.wrap(text, WIDTH - 2, break_on_hyphens=False)))

    def setting(self, line: str, commented: bool) -> None:
        self.lines.append((line, commented))


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _container_model(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """``("list", M)`` for ``list[M]`` (an array of tables), ``("dict", M)`` for
    ``dict[str, M]`` (a table per user-chosen key), else None."""
    annotation = _strip_optional(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and args and (model := _model(args[0])):
        return "list", model
    if origin is dict and len(args) == 2 and (model := _model(args[1])):
        return "dict", model
    return None


def _is_secret(annotation: Any) -> bool:
    return _strip_optional(annotation) is SecretStr


def _choices(annotation: Any) -> tuple[Any, ...]:
    annotation = _strip_optional(annotation)
    return get_args(annotation) if get_origin(annotation) is Literal else ()


def _required(info: FieldInfo) -> bool:
    return info.default is PydanticUndefined and info.default_factory is None


def example_value(model: type[BaseModel], name: str) -> Any:
    """What the example writes for a field: its first ``examples`` entry, else its default.

    A required field must give an example (the error names it, so a new one cannot slip through
    unshown); an optional one defaulting to None shows a placeholder of its type instead.
    """
    info = model.model_fields[name]
    if _is_secret(info.annotation):
        return SECRET_PLACEHOLDER  # never a value, not even an example's
    if info.examples:
        return info.examples[0]
    if _required(info):
        raise ValueError(f"{model.__name__}.{name}: give it Field(examples=[...]) to show")
    value = info.get_default(call_default_factory=True)
    return _placeholder(info.annotation) if value is None else value


def _placeholder(annotation: Any) -> Any:
    """A value of the field's type for an unset optional key: what to replace, not a default."""
    kind = _strip_optional(annotation)
    origin = get_origin(kind) or kind
    if _choices(kind):
        return _choices(kind)[0]
    for types_, value in (
        ((bool,), False),
        ((int,), 0),
        ((float, Decimal), 0.0),
        ((list, tuple, set, frozenset), []),
        ((dict,), {}),
        ((date,), date(2026, 1, 1)),
    ):
        if isinstance(origin, type) and issubclass(origin, types_):
            return value
    return "..."


def _describe(info: FieldInfo, required: bool) -> str:
    text = info.description or ""
    if choices := _choices(info.annotation):
        text += f" (one of: {', '.join(str(c) for c in choices)})"
    if _is_secret(info.annotation):
        text += " — a secret: this file must then be readable by costagent only"
    if required:
        text = f"required: {text}" if text else "required"
    return text.strip()


def _fits(key: str, value: Any) -> bool:
    return len(f"# {toml_key(key)} = {toml_value(value)}") <= WIDTH


def _setting(out: _Out, key: str, value: Any, commented: bool) -> None:
    lines = [f"{toml_key(key)} = {toml_value(value)}"]
    if not _fits(key, value) and isinstance(value, list | tuple):
        lines = _array_lines(toml_key(key), value)
    for line in lines:
        out.setting(line, commented)


def _model_block(
    out: _Out,
    table: str,
    model: type[BaseModel],
    *,
    header: str,
    commented: bool,
    fixed: dict[str, Any] | None = None,
) -> None:
    """A ``[table]`` (or ``[[table]]``) with every field of ``model``; sub-tables after the
    plain keys, as TOML requires.  ``fixed`` writes a field as-is, first (a source's type)."""
    fixed = fixed or {}
    out.setting(header, commented)
    nested: list[tuple[str, FieldInfo]] = []
    long_tables: list[tuple[str, FieldInfo, dict[str, Any]]] = []
    for name, value in fixed.items():
        _setting(out, name, value, commented)
        out.shown.append(Shown(table, model, name, value))
    for name, info in model.model_fields.items():
        key = info.alias or name
        if name in fixed:
            continue
        if _model(info.annotation) or _container_model(info.annotation):
            nested.append((name, info))
            continue
        required = _required(info)
        value = example_value(model, name)
        out.shown.append(Shown(table, model, name, value))
        if isinstance(value, dict) and not _fits(key, value):
            long_tables.append((key, info, value))  # a table of its own, after the keys
            continue
        out.comment(_describe(info, required))
        _setting(out, key, value, commented or not required)
    for name, info in nested:
        _nested_block(out, f"{table}.{toml_key(info.alias or name)}", info, commented)
    for key, info, value in long_tables:
        out.text("")
        out.comment(_describe(info, False))
        out.setting(f"[{table}.{toml_key(key)}]", True)
        for sub_key, sub_value in value.items():
            _setting(out, str(sub_key), sub_value, True)


def _nested_block(out: _Out, table: str, info: FieldInfo, commented: bool) -> None:
    """A field holding a model (``[report.email]``), a list of them (``[[classification.rules]]``)
    or a table of them by name (``[llm_requests.prices."<model>"]``)."""
    out.text("")
    out.comment(info.description or "")
    if sub := _model(info.annotation):
        # an optional sub-table (default None) stays commented: its required keys are examples
        optional = info.get_default(call_default_factory=True) is None
        _model_block(out, table, sub, header=f"[{table}]", commented=commented or optional)
        return
    kind, sub = _container_model(info.annotation) or ("", BaseModel)
    if kind == "list":
        _model_block(out, table, sub, header=f"[[{table}]]", commented=True)
    else:
        example = info.examples[0] if info.examples else {"name": None}
        key = toml_key(str(next(iter(example))))
        _model_block(out, f"{table}.{key}", sub, header=f"[{table}.{key}]", commented=True)


def _sources(out: _Out) -> None:
    out.text("", RULER)
    info = Settings.model_fields["sources"]
    out.comment(
        f"[[sources]]: {info.description}. One table per source; `type` picks the collector, "
        "`name` is stored as x_source on every row it loads. The daemon runs billing sources "
        "on [schedule] collect and metrics / inventory sources on collect_metrics.",
    )
    for type_name, collector in source_types().items():
        model = collector.config_model
        out.text("")
        out.comment(f"{type_name}: {collector.meta.summary} (job: {collector.meta.job})")
        fixed = {"name": type_name.replace("_", "-"), "type": type_name}
        _model_block(out, "sources", model, header="[[sources]]", commented=True, fixed=fixed)


def _rules(out: _Out) -> None:
    out.text("", RULER)
    out.comment(
        f"[rules.<rule_id>]: {Settings.model_fields['rules'].description}. Every threshold has "
        "a default; a misspelt key is an error. `costagent rules` lists the rules.",
    )
    for rule_id, rule in registered_rules().items():
        out.text("")
        out.comment(f"{rule_id} ({rule.meta.family}): {rule.meta.title}. {rule().describe()}")
        table = f"rules.{rule_id}"
        _model_block(out, table, rule.config_model, header=f"[{table}]", commented=True)


def _walk() -> _Out:
    out = _Out()
    out.text(*PREAMBLE.splitlines())
    for name, info in Settings.model_fields.items():
        if name in ("sources", "rules"):
            continue
        model = _model(info.annotation)
        assert model is not None, f"Settings.{name} is not a section model"
        out.text("", RULER)
        out.comment(_first_paragraph(model.__doc__ or ""))
        _model_block(out, name, model, header=f"[{name}]", commented=False)
    _sources(out)
    _rules(out)
    return out


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "`")


def render(active: bool = False) -> str:
    """The example config; ``active=True`` uncomments every setting (for the tests)."""
    lines = [line if active or not commented else f"# {line}" for line, commented in _walk().lines]
    return "\n".join(lines).rstrip() + "\n"


def shown() -> list[Shown]:
    """Every key the example writes, with its model and value (what the tests validate)."""
    return _walk().shown
