"""``costagent demo``: the agent end to end on shipped synthetic data, in a throwaway store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.analysis import findings_table
from agent.cli.app import ImportBar, errors, fail, out, progress, state


def demo(
    path: Annotated[Path, typer.Option(help="Where to create the demo SQLite database.")] = Path(
        "costagent-demo.db"
    ),
    force: Annotated[
        bool, typer.Option(help="Replace the files even if the demo did not create them.")
    ] = False,
) -> None:
    """Load the shipped (synthetic) demo data into a fresh SQLite DB; print a summary and the
    findings of every rule over the demo month.

    It writes PATH and PATH with a .toml suffix, and replaces them only when an earlier demo
    created them: a store or config of yours there is refused (exit 2) unless --force."""
    from sqlalchemy import text

    from agent.demo import DATA_DIR, DEMO_APPLICATION_ID, demo_config, demo_settings, not_ours
    from agent.render_summary import print_summary
    from agent.store.engine import open_store
    from agent.store.findings import end_of_data, list_findings
    from agent.summary import build_summary
    from agent.usecases.analysis import analyze
    from collectors.importer import import_paths

    with errors():
        db = path.resolve()
        config_file = db.with_suffix(".toml")  # the sample rate, for the report
        taken = not_ours(db, config_file)
        if taken and not force:
            fail(
                f"{taken[0]} exists and was not created by `costagent demo`; choose another "
                "--path (or --force to replace it)",
                2,
            )
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        engine = open_store(f"sqlite:///{db}")
        with engine.begin() as conn:  # marks the file as the demo's, for the next run
            conn.execute(text(f"PRAGMA application_id = {DEMO_APPLICATION_ID}"))
        with progress() as p:
            result = import_paths(engine, [DATA_DIR], state.settings, progress=ImportBar(p))
        out.print(
            f"demo database: {db}  ({result.total_rows:,} rows from "
            f"{len(result.files)} files; synthetic data, see {DATA_DIR / 'README.md'})"
        )
        print_summary(out, build_summary(engine))
        analysis = analyze(engine, demo_settings(state.settings), now=end_of_data(engine))
        out.print()
        findings_table(
            list_findings(engine, "open"),
            f"findings ({analysis.window[0]:%Y-%m-%d}"
            f" .. {analysis.window[1] - timedelta(days=1):%Y-%m-%d})",
        )
        config_file.write_text(demo_config(), encoding="utf-8")
        out.print(
            f"\nnext: costagent --config {config_file} --db sqlite:///{db} report --latest"
            " --format html --out report.html"
            f"\n      costagent --db sqlite:///{db} findings --format json"
            f"\n      costagent --db sqlite:///{db} sql "
            '"SELECT * FROM ai_spend ORDER BY day DESC LIMIT 10"',
            soft_wrap=True,
        )
