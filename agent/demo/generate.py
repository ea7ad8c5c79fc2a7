"""Generate the synthetic demo dataset: a month of an AI team's AWS and GCP bill, plus signals.

Usage::

    python -m agent.demo.generate [--out DIR] [--seed N] [--month YYYY-MM]

Without ``--out`` it rewrites the shipped folder (:data:`agent.demo.DATA_DIR`).  The output is a
pure function of the seed and the month: the same arguments give the same bytes (Parquet footers
also name the pyarrow version that wrote them).  Only the standard library's seeded
``random.Random`` and pyarrow are used, so nothing else can change the result.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from agent.demo import DATA_DIR, _aws, _gcp, _llm_apis, _signals
from agent.demo._common import DEFAULT_MONTH, DEFAULT_SEED, WORKLOADS, Ledger, Month

CUR_PARTS = 2


@dataclass(frozen=True)
class Layout:
    """Where each file goes, relative to the output folder."""

    month: Month

    @property
    def cur_dir(self) -> str:
        return f"aws-cur/data/BILLING_PERIOD={self.month.label}"

    def cur_part(self, index: int) -> str:
        return f"{self.cur_dir}/part-{index:05d}.snappy.parquet"

    @property
    def gcp(self) -> str:
        return f"gcp-billing/gcp_billing_export_resource_v1_{self.month.label}_synthetic.jsonl.gz"

    @property
    def metrics(self) -> str:
        return f"metrics/usage_metrics_{self.month.label}_synthetic.csv"

    @property
    def llm(self) -> str:
        return f"llm-requests/llm_requests_{self.month.label}_synthetic.jsonl"

    @property
    def inventory(self) -> str:
        return f"inventory/inventory_{self.month.label}_synthetic.jsonl"

    def openai(self, endpoint: str) -> str:
        return f"openai/{endpoint}_{self.month.label}_synthetic.json"

    def anthropic(self, endpoint: str) -> str:
        return f"anthropic/{endpoint}_{self.month.label}_synthetic.jsonl"


@dataclass(frozen=True)
class Written:
    path: str  # relative to the output folder
    kind: str
    rows: int


@dataclass(frozen=True)
class Result:
    out: Path
    seed: int
    month: Month
    files: tuple[Written, ...]
    ledger: Ledger


def generate(
    out: Path | None = None, seed: int = DEFAULT_SEED, month: str = DEFAULT_MONTH
) -> Result:
    """Write every file of the dataset (and its README) under ``out``."""
    out = Path(out) if out is not None else DATA_DIR
    m = Month.parse(month)
    layout = Layout(m)
    ledger = Ledger(m.start)
    files: list[Written] = []

    _clean(out)
    cur = _aws.build(m, seed, ledger)
    size = -(-cur.num_rows // CUR_PARTS)
    for i in range(CUR_PARTS):
        part = cur.slice(i * size, size)
        _write_parquet(out / layout.cur_part(i), part)
        files.append(
            Written(layout.cur_part(i), "AWS CUR 2.0 (Data Exports, Parquet)", part.num_rows)
        )

    gcp_rows = _gcp.build(m, seed, ledger)
    # Compressed, as a BigQuery extract to Cloud Storage usually is (and it is the largest).
    _write_gzip(out / layout.gcp, _jsonl(gcp_rows))
    files.append(
        Written(
            layout.gcp,
            "GCP billing export to BigQuery (detailed, gzipped JSON lines)",
            len(gcp_rows),
        )
    )

    metric_rows = _signals.metrics(m, seed)
    _write_text(out / layout.metrics, _csv([_signals.METRIC_HEADER, *metric_rows]))
    files.append(Written(layout.metrics, "usage metrics (CSV)", len(metric_rows)))

    calls = _signals.llm_requests(m, seed)
    _write_text(out / layout.llm, _jsonl(calls))
    files.append(Written(layout.llm, "LLM request log (JSON lines)", len(calls)))

    resources = _signals.inventory(m, seed)
    _write_text(out / layout.inventory, _jsonl(resources))
    files.append(Written(layout.inventory, "inventory snapshot (JSON lines)", len(resources)))

    pages = _llm_apis.build(m, seed, ledger)
    for path, kind, (body, rows) in (
        (layout.openai("usage_completions"), "OpenAI Usage API page, completions (pretty JSON)",
         pages.openai_completions),
        (layout.openai("usage_embeddings"), "OpenAI Usage API page, embeddings (pretty JSON)",
         pages.openai_embeddings),
        (layout.openai("costs"), "OpenAI Costs API page (pretty JSON)", pages.openai_costs),
        (layout.anthropic("usage_messages"), "Anthropic usage report pages (one per line)",
         pages.anthropic_messages),
        (layout.anthropic("cost_report"), "Anthropic cost report pages (one per line)",
         pages.anthropic_costs),
    ):  # fmt: skip
        _write_text(out / path, body)
        files.append(Written(path, kind, rows))

    result = Result(out, seed, m, tuple(files), ledger)
    _write_text(out / "README.md", readme(result))
    return result


# --- writing ----------------------------------------------------------------------------------
def _clean(out: Path) -> None:
    """Remove files a previous run wrote (only ours: other files in ``out`` are left alone)."""
    patterns = (
        "aws-cur/data/BILLING_PERIOD=*/part-*.snappy.parquet",
        "gcp-billing/gcp_billing_export_resource_v1_*_synthetic.jsonl.gz",
        "metrics/usage_metrics_*_synthetic.csv",
        "llm-requests/llm_requests_*_synthetic.jsonl",
        "inventory/inventory_*_synthetic.jsonl",
        "openai/*_synthetic.json",
        "anthropic/*_synthetic.jsonl",
    )
    for pattern in patterns:
        for path in sorted(out.glob(pattern)):
            path.unlink()
    for folder in sorted(out.glob("aws-cur/data/BILLING_PERIOD=*"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="snappy",
        row_group_size=64 * 1024,
        use_dictionary=True,
        write_statistics=True,
    )


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _write_gzip(path: Path, text: str) -> None:
    """Gzip with no name and a zero timestamp in the header, so the bytes are reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows)


def _csv(rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


# --- README ------------------------------------------------------------------------------------
def _usd(value: float) -> str:
    return f"{value:,.2f}"


def readme(result: Result) -> str:
    m, led = result.month, result.ledger
    lines = [
        "# costagent demo data — SYNTHETIC",
        "",
        "**Everything in this folder is synthetic.**  It was generated by",
        f"`agent/demo/generate.py` with seed `{result.seed}` for the month `{m.label}`.  The AWS "
        "accounts (`111122223333`, `444455556666`, the example ids of the AWS documentation), "
        "the GCP billing account and projects, every resource, price, token count and request "
        "are made up.  Nothing here comes from a real bill; prices are rounded public "
        "on-demand list prices and may be out of date.  Use it to try costagent "
        "(`costagent demo`), never as a source of truth.",
        "",
        "## Regenerate",
        "",
        "```",
        "python -m agent.demo.generate                 # rewrites this folder",
        "python -m agent.demo.generate --out /tmp/demo --seed 7 --month 2026-11",
        "```",
        "",
        "The output is a pure function of seed and month (the standard library's seeded "
        "`random.Random` plus pyarrow): the same arguments give the same bytes; Parquet footers "
        "also record the pyarrow version.  `tests/test_demo_data.py` regenerates the folder and "
        "compares it with what is shipped.",
        "",
        "## Files",
        "",
        "| file | format | rows |",
        "| --- | --- | ---: |",
        *[f"| `{f.path}` | {f.kind} | {f.rows:,} |" for f in result.files],
        "",
        "The CUR is aggregated to one row per hour, resource and usage type (daily for "
        "requests and small storage items); the GCP export to one row per day and SKU and "
        "resource.  The request log is a sample of the gateway's calls, so it does not add up "
        "to the token counts billed.",
        "",
        "## What is in the month",
        "",
        "AWS (us-east-1, payer `111122223333`, prod `111122223333`, dev `444455556666`):",
        "",
        "- SageMaker real-time endpoints: `chat-prod` (2 × ml.g5.12xlarge, autoscaling 2–4, "
        "scales out at the weekday peak), `embed-prod` (3 × ml.inf2.xlarge, no autoscaling, "
        "accelerators 3–12 % busy: over-provisioned) and `chat-dev` (1 × ml.g5.2xlarge, tagged "
        "`env=dev`, idle nights and weekends but billed around the clock).",
        "- SageMaker training: weekly fine-tunes on ml.p4d.24xlarge, a week-3 burst "
        "(a four-job hyper-parameter sweep and DPO runs), two managed-spot jobs and small "
        "nightly evaluation jobs that all run on-demand; a GPU notebook (ml.g4dn.xlarge) that "
        "is never stopped.",
        "- Bedrock: Claude 3.5 Sonnet, Claude 3 Haiku and Titan Text Embeddings V2 tokens, "
        "growing about 8 % a week, with a nightly re-embedding job.",
        "- OpenSearch Serverless vector collections `rag-docs-prod` and `rag-docs-dev`, both with "
        "standby replicas (the dev one sits at the 2 + 2 OCU minimum with no traffic).",
        "- A g5.12xlarge EC2 instance tagged `workload=inference` (a vLLM box, GPU mostly idle) "
        f"and an m6i.large API server, both covered by a ${_aws.SP_COMMITMENT:g}/h Compute "
        "Savings Plan (covered usage, negation and hourly recurring fee rows).",
        "- Noise: S3 buckets (training data and checkpoints tagged `workload=training`, logs "
        "untagged), NAT gateway, CloudWatch, KMS, ECR; a Tax row per product code "
        f"({_aws.TAX_RATE:.0%}) and one Bedrock promotional Credit row.",
        "",
        "GCP (billing account `01D3M0-5YN7H3-71C000`, projects `synthetic-ml-prod`, "
        "`synthetic-ml-dev`, us-central1):",
        "",
        "- Vertex AI online prediction: `gemma-chat` (a2-highgpu-1g, A100, busy) and "
        "`doc-classifier` (2 × n1-standard-4 + T4, 2–8 % busy).",
        "- Vertex AI custom training: A100 fine-tunes (STANDARD), a week-3 sweep on SPOT, "
        "weekly T4 classifier training.",
        "- Gemini 2.5 Flash / Pro token SKUs (a nightly summarizer) and text-embedding-005.",
        "- Vertex AI Vector Search: a 2-node e2-standard-16 index endpoint, streaming updates, "
        "a weekly index rebuild.",
        "- Noise: BigQuery analysis and storage (with the monthly free-tier credit), Cloud "
        "Storage buckets, egress and a research GPU VM with sustained use discount credits.",
        "",
        "Signals: hourly `invocations` (Sum) and `gpu_utilization` (Average, percent; for the "
        "inf2 endpoint it stands for NeuronCore utilisation) for every endpoint, keyed by the "
        "same id the billing rows carry (the CUR `line_item_resource_id`, the GCP "
        "`resource.global_name`), plus GPU utilisation of both GPU machines; an LLM gateway log "
        "of three apps (`support-bot` with repeated FAQ prompts and little prompt caching, "
        "`doc-search` re-embedding unchanged chunks every night, `summarizer` running nightly "
        "and almost never in batch mode); an inventory snapshot of every endpoint, training "
        "job, notebook, collection, index endpoint and GPU machine.",
        "",
        f"OpenAI (organisation `{_llm_apis.ORG}`) and Anthropic, billed directly, as saved "
        "pages of their admin APIs (what `costagent import` reads when no admin key is at "
        "hand; the `openai_usage` / `anthropic_usage` sources fetch the same pages):",
        "",
        f"- OpenAI project `{_llm_apis.WEB_CHAT}`: a customer chat on {_llm_apis.GPT_4O} "
        "(about 9,000 requests a weekday, ~2,600-token prompts of which only ~11 % hit "
        f"OpenAI's prompt cache) and {_llm_apis.EMBED}; project `{_llm_apis.EVALS}`: nightly "
        f"{_llm_apis.GPT_4O_MINI} evaluations outside the Batch API.  Usage in daily buckets, "
        "costs per day, line item and project (float dollars, as the Costs API sends them).",
        f"- Anthropic workspace `{_llm_apis.CODING}`: a coding agent on Claude Sonnet 4 on "
        "weekdays with little prompt caching; the default workspace runs Claude Haiku 4.5 "
        "triage every day.  The usage report has no request counts (Anthropic's has none); "
        "the cost report's amounts are decimal strings in cents.",
        "",
        "## Expected totals (USD)",
        "",
        "Workloads as costagent's default classification assigns them (the `user_workload` tag "
        "or `workload` label first, then the built-in rules; tax and the credit on Bedrock fall "
        "under inference through the service-wide Bedrock rule, all other tax under other).",
        "",
        "| provider | workload | billed | effective |",
        "| --- | --- | ---: | ---: |",
    ]
    for provider in (_aws.PROVIDER, _gcp.PROVIDER, *_llm_apis.PROVIDERS):
        for workload in WORKLOADS if provider in (_aws.PROVIDER, _gcp.PROVIDER) else WORKLOADS[:1]:
            key = (provider, workload)
            lines.append(
                f"| {provider} | {workload} | {_usd(led.billed[key])} | "
                f"{_usd(led.effective[key])} |"
            )
        lines.append(
            f"| **{provider}** | **all** | "
            f"**{_usd(sum(v for k, v in led.billed.items() if k[0] == provider))}** | "
            f"**{_usd(sum(v for k, v in led.effective.items() if k[0] == provider))}**"
            " |"
        )
    weeks = sorted({w for _, w in led.weekly})
    lines += [
        "",
        "AWS billed = `line_item_unblended_cost`; AWS effective (amortized) = "
        "`savings_plan_savings_plan_effective_cost` for SavingsPlanCoveredUsage, 0 for "
        "SavingsPlanNegation, `savings_plan_total_commitment_to_date - "
        "savings_plan_used_commitment` for SavingsPlanRecurringFee, otherwise unblended.  GCP "
        "billed = effective = `cost` + sum of `credits.amount` (credits total "
        f"{_usd(led.credits[_gcp.PROVIDER])}).",
        "",
        "Billed cost by week of the month (days 1–7, 8–14, …; tax and credit rows are dated "
        "the 1st):",
        "",
        "| provider | " + " | ".join(f"week {w}" for w in weeks) + " |",
        "| --- |" + " ---: |" * len(weeks),
    ]
    for provider in (_aws.PROVIDER, _gcp.PROVIDER, *_llm_apis.PROVIDERS):
        lines.append(
            f"| {provider} | "
            + " | ".join(_usd(led.weekly.get((provider, w), 0.0)) for w in weeks)
            + " |"
        )
    lines += [
        "",
        "## Conventions",
        "",
        "- Inventory `attributes`: SageMaker endpoints have `instance_type`, `instance_count`, "
        "`autoscaling_min`/`autoscaling_max` (null without a scaling policy), `tags`; training "
        "jobs `instance_type`, `instance_count`, `managed_spot` (AWS) or "
        "`scheduling_strategy` SPOT/STANDARD (GCP), `training_seconds`, `billable_seconds` "
        "(AWS); OpenSearch collections `type` (VECTORSEARCH) and `standby_replicas`; GPU "
        "machines `gpu_count`.",
        "- Managed spot training is billed at the on-demand rate for billable seconds only: "
        "its CUR rows (`USE1-Train:<type>-Spot`, pricing term Spot) carry billable hours.",
        "- All times are UTC.  Money is USD with at most 10 decimals (CUR) or 6 (GCP); "
        "OpenAI's costs are float dollars, Anthropic's cents with 5 decimals.",
        "- OpenAI and Anthropic spend is all inference (their cost rows say so); the "
        "totals row of each is its whole bill.",
        "",
    ]
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent.demo.generate",
        description="Generate costagent's synthetic demo dataset (one month, AWS and GCP).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DATA_DIR,
        help=f"output folder (default: the shipped folder, {DATA_DIR})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--month", default=DEFAULT_MONTH, help=f"billing month YYYY-MM (default: {DEFAULT_MONTH})"
    )
    args = parser.parse_args(argv)
    try:
        result = generate(args.out, args.seed, args.month)
    except ValueError as exc:
        parser.error(str(exc))
    for f in result.files:
        size = (result.out / f.path).stat().st_size
        print(f"{f.path}: {f.rows:,} rows, {size / 1024:,.0f} KiB")
    print(f"{result.out / 'README.md'}: how the data was made and the totals to expect")
    return 0


if __name__ == "__main__":
    sys.exit(main())
