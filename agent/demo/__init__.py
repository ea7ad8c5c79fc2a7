"""The shipped demo dataset: one month of a fictitious AI team's cloud bill, entirely synthetic.

Every file under :data:`DATA_DIR` was written by :mod:`agent.demo.generate` from a fixed seed: an
AWS CUR 2.0 Data Export (Parquet), a GCP Cloud Billing BigQuery export (JSON lines), usage metrics
(CSV), an LLM gateway request log and an inventory snapshot (JSON lines).  The accounts, projects,
resources, prices and traffic are made up to look like a realistic month of LLM inference, vector
search and training on AWS and GCP; none of it comes from a real bill.  ``costagent demo`` imports
the folder into a fresh SQLite database, and ``python -m agent.demo.generate`` rebuilds it
byte-for-byte (see ``data/README.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA_DIR: Path = Path(__file__).parent / "data"

# The demo's LLM gateway log is a sample: about 0.5 % of the tokens the bill charges (it keeps
# the repository small).  The LLM rules scale what they measure by ``log_sample_rate``; the demo
# says so, as a user with a sampled gateway log would.
DEMO_RULES: dict[str, dict[str, Any]] = {
    rule_id: {"log_sample_rate": 0.005}
    for rule_id in (
        "prompt-caching",
        "response-cache",
        "batch-inference",
        "reembedding",
        "model-distillation",
    )
}


def demo_rules(user: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The demo's rule settings under the user's own ``[rules.*]`` (the user's keys win)."""
    merged = {k: dict(v) for k, v in DEMO_RULES.items()}
    for rule_id, values in user.items():
        merged.setdefault(rule_id, {}).update(values)
    return merged


__all__ = ["DATA_DIR", "DEMO_RULES", "demo_rules"]
