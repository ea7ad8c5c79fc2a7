"""Saved admin-API pages (``curl … > page.json``) imported as files store what the sources do.

The pages are fetched over real HTTP from the documented-API fakes and written as a user would
save them: OpenAI's pretty-printed (as its API answers), Anthropic's compact, several pages one
per line.  Imported, they give the same ``llm_usage`` and cost rows as the ``openai_usage`` /
``anthropic_usage`` sources fetching the same pages (only the slice keys differ: a file's name
the endpoint); re-importing changes nothing; a newer save restates the day; a bad value is one
line naming file, row and the field, exit 2, and nothing written.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agent.store.engine import open_store
from collectors.formats.base import reader_by_name
from collectors.importer import plan
from tests.helpers import cli
from tests.llm_api_fakes import ANTHROPIC_KEY, OPENAI_KEY, FakeLlmAdmin
from tests.test_llm_admin_apis import (
    ANT_COSTS,
    COMPLETIONS,
    DAY0,
    DAY1,
    EMBEDDINGS,
    MESSAGES,
    OAI_COSTS,
    _anthropic_day,
    _costs,
    _openai_day,
    _usage,
    run,
)


def _get(fake: FakeLlmAdmin, path: str, query: str) -> str:
    """One page as the API sends it (the body's text, numbers exactly as written)."""
    headers = (
        {"Authorization": f"Bearer {OPENAI_KEY}"}
        if "/organization/" in path
        else {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    )
    request = urllib.request.Request(f"{fake.url}{path}?{query}", headers=headers)
    with urllib.request.urlopen(request) as answer:
        return str(answer.read().decode())


def _window(openai: bool, lo: datetime, hi: datetime) -> str:
    if openai:
        start, end = (int(t.replace(tzinfo=UTC).timestamp()) for t in (lo, hi))
        return f"start_time={start}&end_time={end}"
    return f"starting_at={lo:%Y-%m-%dT%H:%M:%SZ}&ending_at={hi:%Y-%m-%dT%H:%M:%SZ}"


def _pretty(body: str) -> str:
    """Indented as OpenAI's API answers, numbers kept as sent."""
    return json.dumps(json.loads(body, parse_float=Decimal), indent=2, default=str)


def save_pages(fake: FakeLlmAdmin, folder: Path, lo: datetime, hi: datetime) -> Path:
    """Every endpoint's window saved as a user would: OpenAI's pretty, Anthropic's one page a
    line (two pages of one day each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, path, groups in (
        ("completions", COMPLETIONS, "group_by=model&group_by=project_id&group_by=api_key_id"
         "&group_by=batch&group_by=service_tier"),
        ("embeddings", EMBEDDINGS, "group_by=model&group_by=project_id&group_by=api_key_id"),
        ("costs", OAI_COSTS, "group_by=line_item&group_by=project_id"),
    ):  # fmt: skip
        body = _get(fake, path, f"{_window(True, lo, hi)}&bucket_width=1d&limit=31&{groups}")
        (folder / f"openai-{name}.json").write_text(_raw_numbers(_pretty(body), body))
    for name, path, groups in (
        ("messages", MESSAGES, "group_by[]=model&group_by[]=workspace_id&group_by[]=api_key_id"
         "&group_by[]=service_tier"),
        ("cost-report", ANT_COSTS, "group_by[]=workspace_id&group_by[]=description"),
    ):  # fmt: skip
        lines = []
        page = ""
        while True:
            query = f"{_window(False, lo, hi)}&bucket_width=1d&limit=1&{groups}{page}"
            body = _get(fake, path, query)
            lines.append(body)
            doc = json.loads(body)
            if not doc["has_more"]:
                break
            page = f"&page={doc['next_page']}"
        (folder / f"anthropic-{name}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _raw_numbers(pretty: str, body: str) -> str:
    """The pretty text with Decimal values unquoted again (``default=str`` quoted them)."""
    for value in _decimals(json.loads(body, parse_float=Decimal)):
        pretty = pretty.replace(f'"{value}"', str(value))
    return pretty


def _decimals(obj: Any) -> Iterator[Decimal]:
    if isinstance(obj, Decimal):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _decimals(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _decimals(v)


def _without_slices(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r[1:] for r in rows]


def test_saved_pages_store_what_the_sources_store(
    engine: Engine, fake: FakeLlmAdmin, tmp_path: Path, db_url: str
) -> None:
    for day in (DAY0, DAY1):
        _openai_day(fake, day)
        _anthropic_day(fake, day)
    folder = save_pages(fake, tmp_path / "pages", DAY0, DAY1 + (DAY1 - DAY0))
    assert (folder / "openai-costs.json").read_text().count("\n") > 20  # pretty-printed
    assert "0.00012073404268330895" in (folder / "openai-costs.json").read_text()

    formats = {p.path.name: p.reader.name for p in plan([folder])}
    assert formats == {
        "anthropic-cost-report.jsonl": "anthropic_costs",
        "anthropic-messages.jsonl": "anthropic_usage_messages",
        "openai-completions.json": "openai_usage_completions",
        "openai-costs.json": "openai_costs",
        "openai-embeddings.json": "openai_usage_embeddings",
    }

    result = cli("--db", db_url, "import", str(folder))
    assert result.exit_code == 0, result.stderr
    imported = (_usage(engine), _costs(engine))
    assert {r[0] for r in imported[0]} == {
        f"{src}:{kind}:{d.date()}"
        for src, kind in (("openai", "completions"), ("openai", "embeddings"),
                          ("anthropic", "messages"))
        for d in (DAY0, DAY1)
    }  # fmt: skip
    assert {r[0] for r in imported[1]} == {
        f"{src}:costs:{d.date()}" for src in ("openai", "anthropic") for d in (DAY0, DAY1)
    }
    assert Decimal("0.000120734043") in {r[3] for r in imported[1]}  # 12 places, exact

    fetched = open_store(f"sqlite:///{tmp_path / 'fetched.db'}")
    for kind in ("openai_usage", "anthropic_usage"):
        assert run(fetched, fake, kind).status == "ok"
    live_usage, live_costs = _usage(fetched), _costs(fetched)
    assert sorted(_without_slices(imported[0]), key=repr) == sorted(
        _without_slices(live_usage), key=repr
    )
    assert sorted(_without_slices(imported[1]), key=repr) == sorted(
        _without_slices(live_costs), key=repr
    )

    # again: nothing doubled
    assert cli("--db", db_url, "import", str(folder)).exit_code == 0
    assert (_usage(engine), _costs(engine)) == imported
    fetched.dispose()


def test_a_newer_save_restates_and_empties_its_days(
    engine: Engine, fake: FakeLlmAdmin, tmp_path: Path, db_url: str
) -> None:
    _openai_day(fake, DAY0)
    _openai_day(fake, DAY1)
    old = save_pages(fake, tmp_path / "old", DAY0, DAY1 + (DAY1 - DAY0))
    saved = [str(p) for p in sorted(old.glob("openai-*.json"))]  # Anthropic's pages are empty
    assert cli("--db", db_url, "import", *saved).exit_code == 0
    before = _usage(engine)

    _openai_day(fake, DAY1, 9999)  # restated
    fake.results.pop((COMPLETIONS, DAY0))  # and the first day now empty
    new = save_pages(fake, tmp_path / "new", DAY0, DAY1 + (DAY1 - DAY0))
    result = cli("--db", db_url, "import", str(new / "openai-completions.json"))
    assert result.exit_code == 0, result.stderr
    after = _usage(engine)
    completions = [r for r in after if r[3] == "chat"]
    assert {r[1] for r in completions} == {DAY1}
    assert 9999 in {r[10] for r in completions}
    assert [r for r in after if r[3] == "embeddings"] == [
        r for r in before if r[3] == "embeddings"
    ]  # another endpoint's slices untouched


def test_a_bad_value_names_file_row_and_field_and_writes_nothing(
    engine: Engine, tmp_path: Path, db_url: str
) -> None:
    good = {
        "starting_at": "2026-10-01T00:00:00Z",
        "ending_at": "2026-10-02T00:00:00Z",
        "results": [{"uncached_input_tokens": 10, "output_tokens": 1, "model": "m"}],
    }
    bad = {
        "starting_at": "2026-10-02T00:00:00Z",
        "ending_at": "2026-10-03T00:00:00Z",
        "results": [{"uncached_input_tokens": 10, "output_tokens": -3, "model": "m"}],
    }
    path = tmp_path / "messages.jsonl"
    path.write_text(
        json.dumps({"data": [good], "has_more": True, "next_page": "x"}) + "\n"
        + json.dumps({"data": [bad], "has_more": False, "next_page": None}) + "\n"
    )  # fmt: skip
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}, row 2, column data: ")
    assert "output_tokens" in line and "2026-10-02" in line
    assert _usage(engine) == []


def test_pages_of_another_endpoint_in_one_file_are_refused(tmp_path: Path, db_url: str) -> None:
    def page(obj: str) -> str:
        result = {"object": obj, "input_tokens": 1, "num_model_requests": 1}
        bucket = {"object": "bucket", "start_time": 1759276800, "end_time": 1759363200,
                  "results": [result]}  # fmt: skip
        return json.dumps({"object": "page", "data": [bucket], "has_more": False})

    path = tmp_path / "mixed.jsonl"
    path.write_text(
        page("organization.usage.completions.result")
        + "\n"
        + page("organization.usage.embeddings.result")
        + "\n"
    )
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 2
    assert "row 2" in result.stderr and "completions result" in result.stderr


def test_a_page_of_empty_buckets_needs_its_format_named(tmp_path: Path, db_url: str) -> None:
    empty = {"object": "bucket", "start_time": 1759276800, "end_time": 1759363200, "results": []}
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"object": "page", "data": [empty], "has_more": False}))
    result = cli("--db", db_url, "import", str(path))
    assert result.exit_code == 2 and "unrecognised" in result.stderr
    result = cli("--db", db_url, "import", "--format", "openai_costs", str(path))
    assert result.exit_code == 0, result.stderr
    assert reader_by_name("openai_costs").target == "cost"
