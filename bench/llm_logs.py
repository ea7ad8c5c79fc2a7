"""LLM request-log ingest benchmark: OpenTelemetry GenAI spans vs a bare executemany.

    python bench/llm_logs.py --rows 1000000

1. Generates an OTLP/JSON file as the Collector's file exporter writes it: one ``TracesData``
   batch per line (100 spans a line, 64-bit integers as strings), every span a GenAI chat or
   embeddings call with the current semantic-convention attributes.
2. Runs ``costagent import`` on it into a fresh SQLite file in a child process: wall time and
   the child's peak RSS (its own ``VmHWM``).
3. The floor: the very rows stored in ``llm_requests``, read back and inserted with a bare
   ``sqlite3.executemany`` into an equivalent table (same DDL, unique key and indexes).
4. Prints rows/s of both, their ratio and the peak RSS (issue 15's target: ratio ≤ 2, memory
   flat in the file's size).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import bare_executemany, print_comparison, run_import

SPANS_PER_LINE = 100
MODELS = [("openai", "gpt-4o-2024-08-06"), ("anthropic", "claude-sonnet-4-20250514"),
          ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0")]  # fmt: skip
APPS = ["support-bot", "rag-search", "nightly-summary", "classifier"]
START_NS = 1_763_600_000 * 10**9  # 2025-11-20


def _attr(key: str, value: object) -> dict[str, object]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def generate(n: int, path: Path) -> None:
    with path.open("w") as out:
        i = 0
        while i < n:
            app = APPS[(i // SPANS_PER_LINE) % len(APPS)]
            spans = []
            for _ in range(min(SPANS_PER_LINE, n - i)):
                provider, model = MODELS[i % len(MODELS)]
                embed = i % 10 == 9
                start = START_NS + i * 250_000_000
                attrs = [
                    _attr("gen_ai.operation.name", "embeddings" if embed else "chat"),
                    _attr("gen_ai.provider.name", provider),
                    _attr("gen_ai.request.model", "text-embedding-3-small" if embed else model),
                    _attr("gen_ai.usage.input_tokens", 800 + i % 4000),
                ]
                if not embed:
                    attrs.append(_attr("gen_ai.usage.output_tokens", 50 + i % 700))
                    attrs.append(_attr("gen_ai.usage.cache_read.input_tokens", (i % 5) * 100))
                spans.append({
                    "traceId": f"{i:032x}", "spanId": f"{i:016x}", "kind": 3,
                    "name": "chat", "startTimeUnixNano": str(start),
                    "endTimeUnixNano": str(start + 900_000_000), "attributes": attrs,
                    "status": {},
                })  # fmt: skip
                i += 1
            line = {"resourceSpans": [{
                "resource": {"attributes": [_attr("service.name", app)]},
                "scopeSpans": [{"scope": {"name": "openai_v2"}, "spans": spans}]}]}  # fmt: skip
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--keep", type=Path, help="Keep the files in this folder.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        spans = folder / "traces.json"
        t0 = time.perf_counter()
        generate(args.rows, spans)
        size = spans.stat().st_size / 1e6
        print(f"generated {args.rows:,} GenAI spans ({size:.0f} MB OTLP/JSON) "
              f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        db = folder / "costagent.db"
        for p in (db, folder / "bare.db"):
            p.unlink(missing_ok=True)
        secs, rss = run_import(spans, db)
        bare, n = bare_executemany(db, folder / "bare.db", table="llm_requests")
        if n != args.rows:
            sys.exit(f"stored {n} rows, expected {args.rows}")
        print_comparison(n, secs, bare, rss, "(target: flat in the file size)")


if __name__ == "__main__":
    main()
