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

from decimal import Decimal
from pathlib import Path

from agent.config import Settings

DATA_DIR: Path = Path(__file__).parent / "data"

#: The demo's LLM gateway log is a sample: about 0.5 % of the calls the bill charges (it keeps
#: the repository small).  The demo says so, as a user with a sampled gateway log would, in
#: ``[llm_requests] sample_rate``: the LLM rules and the report's unit costs scale by it.
DEMO_SAMPLE_RATE = Decimal("0.005")


def demo_config() -> str:
    """The TOML ``costagent demo`` writes beside the database: the settings the demo's
    findings were made with, so ``costagent --config … report`` scales the sampled log as the
    rules did (a later command cannot know the log is a sample otherwise)."""
    return (
        "# Written by `costagent demo`: the demo's LLM request log is a 0.5 % sample of the\n"
        "# calls the bill charges, so the rules and the report scale what they count by it.\n"
        "\n"
        "[llm_requests]\n"
        f"sample_rate = {DEMO_SAMPLE_RATE}\n"
    )


#: SQLite's ``application_id`` (header offset 68) of a database ``costagent demo`` created:
#: the demo replaces only files that carry it (or a config it wrote), never a user's store.
DEMO_APPLICATION_ID = 0x63616465  # "cade"
_CONFIG_MARK = "# Written by `costagent demo`"


def demo_database(path: Path) -> bool:
    """Whether ``path`` is a SQLite file that ``costagent demo`` created."""
    try:
        with path.open("rb") as fh:
            header = fh.read(72)
    except OSError:
        return False
    return (
        header.startswith(b"SQLite format 3\x00")
        and int.from_bytes(header[68:72], "big") == DEMO_APPLICATION_ID
    )


def demo_config_file(path: Path) -> bool:
    """Whether ``path`` is a config file that ``costagent demo`` wrote."""
    try:
        return path.read_text(encoding="utf-8").startswith(_CONFIG_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def not_ours(db: Path, config: Path) -> list[Path]:
    """The files the demo would replace that it did not create (it must not touch those)."""
    taken = []
    if db.exists() and not demo_database(db):
        taken.append(db)
    if config.exists() and not demo_config_file(config):
        taken.append(config)
    return taken


def demo_settings(user: Settings) -> Settings:
    """The user's settings with the demo log's sample rate (whatever the user's log is)."""
    shared = user.llm_requests.model_copy(update={"sample_rate": DEMO_SAMPLE_RATE})
    return user.model_copy(update={"llm_requests": shared})


__all__ = [
    "DATA_DIR",
    "DEMO_APPLICATION_ID",
    "DEMO_SAMPLE_RATE",
    "demo_config",
    "demo_settings",
    "not_ours",
]
