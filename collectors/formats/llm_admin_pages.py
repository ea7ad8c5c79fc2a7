"""Saved pages of the OpenAI and Anthropic admin APIs, imported as files.

The ``openai_usage`` / ``anthropic_usage`` sources fetch these pages themselves.  Where costagent
may not hold an admin key (or runs offline, as the demo does), the pages can be saved instead —
``curl … > page.json`` per page, or one page per line of a JSON-lines file — and imported: each
result is mapped by the very functions the sources use (the token convention, exact money, the
cost rows' FOCUS columns), so a file and a live source store the same figures.

Four formats, one per endpoint, because a file holds one kind of row: OpenAI's
``/organization/usage/completions`` and ``…/embeddings`` and Anthropic's
``/organizations/usage_report/messages`` fill ``llm_usage``; OpenAI's ``/organization/costs`` and
Anthropic's ``/organizations/cost_report`` fill ``cost_line_items``.  Every page has the same
top-level keys (``data``, ``has_more``, ``next_page``), so detection looks inside: OpenAI names
each result's ``object``, Anthropic's usage results have ``uncached_input_tokens`` and its cost
results ``amount`` and ``currency``.

Every UTC day a page holds a bucket of is a slice (``<source>:<endpoint>:<day>``), replaced by
what the import holds for that day — an empty bucket empties it — so re-importing a page (or a
newer save of it) changes nothing or restates the day.  The pages of one query belong in one
import (a folder): a day split across two pages is whole only when both are imported together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import pyarrow as pa

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import SCHEMAS, conform
from collectors.formats.common import Where
from collectors.http_api import ApiError
from collectors.llm import anthropic_usage, openai_usage
from collectors.llm.admin import Bucket, page_buckets, results

PAGE_KEYS = frozenset({"data", "has_more"})


class AdminPageReader(FormatReader):
    """A saved page of one admin-API endpoint; subclasses name provider and endpoint."""

    precedence: ClassVar[int] = 50
    api: ClassVar[str]  # "OpenAI", for messages
    endpoint: ClassVar[str]  # the path the page came from
    kind: ClassVar[str]  # "completions", "costs", …: the slice's middle part
    bucket_keys: ClassVar[tuple[str, str]]
    parse_time: ClassVar[Callable[[Any], datetime]]

    def __init__(self) -> None:
        self._days: set[str] = set()

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return columns >= PAGE_KEYS

    @classmethod
    def matches_sample(cls, first: Mapping[str, Any] | None) -> bool:
        return first is not None and cls.kind_of(first) == cls.kind

    @classmethod
    def kind_of(cls, page: Mapping[str, Any]) -> str | None:
        """Which endpoint's page this is, from its first result (None: cannot tell)."""
        data = page.get("data")
        for bucket in data if isinstance(data, list) else ():
            if not isinstance(bucket, dict) or cls.bucket_keys[0] not in bucket:
                return None
            for result in bucket.get("results") or ():
                if isinstance(result, dict):
                    return cls.result_kind(result)
        return None

    @classmethod
    def result_kind(cls, result: Mapping[str, Any]) -> str | None:
        """The endpoint one result object comes from."""
        raise NotImplementedError

    def row(self, when: Bucket, end: datetime, result: dict[str, Any]) -> dict[str, Any]:
        """The store row of one result."""
        raise NotImplementedError

    def covered(self) -> Iterator[str]:
        return iter(sorted(self._days))

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        rows: list[dict[str, Any]] = []
        for index, text in enumerate(batch.column("data").to_pylist()):
            try:
                page = {"data": json.loads(text, parse_float=Decimal) if text else None}
            except ValueError:
                raise where.error(index, "data", "not a list of buckets") from None
            try:
                rows.extend(self._page_rows(page))
            except ApiError as exc:
                raise where.error(index, "data", str(exc)) from None
        schema = SCHEMAS[self.target]
        columns = {
            name: pa.array([r.get(name) for r in rows], schema.field(name).type)
            for name in schema.names
            if name != "x_slice"
        }
        table = conform(columns, schema, len(rows))
        keys = pa.array([r["x_slice"] for r in rows], pa.string())
        if "x_slice" in table.column_names:
            return table.set_column(table.schema.get_field_index("x_slice"), "x_slice", keys)
        return table.append_column("x_slice", keys)

    def _page_rows(self, page: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        label = f"{self.api} {self.endpoint}"
        for bucket, start, end in page_buckets(
            label, "page", page, self.bucket_keys, type(self).parse_time
        ):
            day = f"{self.kind}:{start.date().isoformat()}"
            self._days.add(day)
            when = Bucket(label, "page", start)
            for result in results(label, bucket, "page"):
                found = self.result_kind(result)
                if found is not None and found != self.kind:
                    raise when.fail("results", found, f"a {self.kind} result (one endpoint a file)")
                row = self.row(when, end, result)
                row["x_slice"] = day
                yield row


class _OpenAiPage(AdminPageReader):
    api: ClassVar[str] = "OpenAI"
    bucket_keys: ClassVar[tuple[str, str]] = openai_usage.BUCKET_KEYS
    parse_time: ClassVar[Callable[[Any], datetime]] = staticmethod(openai_usage.unix_time)

    @classmethod
    def result_kind(cls, result: Mapping[str, Any]) -> str | None:
        obj = result.get("object")
        if not isinstance(obj, str) or not obj.startswith("organization."):
            return None
        return obj.removesuffix(".result").rsplit(".", 1)[-1]  # ….usage.completions.result


class OpenAiCompletionsPage(_OpenAiPage):
    name: ClassVar[str] = "openai_usage_completions"
    label: ClassVar[str] = "OpenAI Usage API page (completions)"
    target: ClassVar[Target] = "llm_usage"
    default_source: ClassVar[str | None] = "openai"
    endpoint: ClassVar[str] = "/organization/usage/completions"
    kind: ClassVar[str] = "completions"

    def row(self, when: Bucket, end: datetime, result: dict[str, Any]) -> dict[str, Any]:
        return openai_usage.usage_row(when, end, "chat", result)


class OpenAiEmbeddingsPage(_OpenAiPage):
    name: ClassVar[str] = "openai_usage_embeddings"
    label: ClassVar[str] = "OpenAI Usage API page (embeddings)"
    target: ClassVar[Target] = "llm_usage"
    default_source: ClassVar[str | None] = "openai"
    endpoint: ClassVar[str] = "/organization/usage/embeddings"
    kind: ClassVar[str] = "embeddings"

    def row(self, when: Bucket, end: datetime, result: dict[str, Any]) -> dict[str, Any]:
        return openai_usage.usage_row(when, end, "embeddings", result)


class OpenAiCostsPage(_OpenAiPage):
    name: ClassVar[str] = "openai_costs"
    label: ClassVar[str] = "OpenAI Costs API page"
    target: ClassVar[Target] = "cost"
    default_source: ClassVar[str | None] = "openai"
    endpoint: ClassVar[str] = "/organization/costs"
    kind: ClassVar[str] = "costs"

    def row(self, when: Bucket, end: datetime, result: dict[str, Any]) -> dict[str, Any]:
        return openai_usage.cost_result(when, end, result, self.source())


class _AnthropicPage(AdminPageReader):
    api: ClassVar[str] = "Anthropic"
    bucket_keys: ClassVar[tuple[str, str]] = anthropic_usage.BUCKET_KEYS
    parse_time: ClassVar[Callable[[Any], datetime]] = staticmethod(anthropic_usage.rfc3339_time)

    @classmethod
    def result_kind(cls, result: Mapping[str, Any]) -> str | None:
        if "uncached_input_tokens" in result:
            return "messages"
        if "amount" in result and "currency" in result:
            return "costs"
        return None


class AnthropicMessagesPage(_AnthropicPage):
    name: ClassVar[str] = "anthropic_usage_messages"
    label: ClassVar[str] = "Anthropic Usage API page (messages)"
    target: ClassVar[Target] = "llm_usage"
    default_source: ClassVar[str | None] = "anthropic"
    endpoint: ClassVar[str] = "/organizations/usage_report/messages"
    kind: ClassVar[str] = "messages"

    def row(self, when: Bucket, end: datetime, result: dict[str, Any]) -> dict[str, Any]:
        return anthropic_usage.usage_row(when, end, result)


class AnthropicCostsPage(_AnthropicPage):
    name: ClassVar[str] = "anthropic_costs"
    label: ClassVar[str] = "Anthropic Cost API page"
    target: ClassVar[Target] = "cost"
    default_source: ClassVar[str | None] = "anthropic"
    endpoint: ClassVar[str] = "/organizations/cost_report"
    kind: ClassVar[str] = "costs"

    def row(self, when: Bucket, end: datetime, result: dict[str, Any]) -> dict[str, Any]:
        return anthropic_usage.cost_result(when, end, result, self.source())
