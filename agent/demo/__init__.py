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

DATA_DIR: Path = Path(__file__).parent / "data"

__all__ = ["DATA_DIR"]
