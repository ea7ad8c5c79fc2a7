"""The ``costagent`` command line: thin, every command a call into the agent's modules.

One module per command group; the commands are registered here, in the order
``costagent --help`` lists them.  :mod:`agent.cli.app` holds the Typer app, the global options
and the output helpers (its name is also the ``app`` exported here: the Typer app, which the
tests invoke, and ``main``, the ``costagent`` entry point).
"""

from agent.cli import analysis, compare, db, demo, init, load, report, rules, sql, status
from agent.cli.app import app, main

app.command()(init.init)
app.command("import")(load.import_)
app.command()(load.collect)
app.command()(status.status)
app.command()(load.run)
app.command()(sql.sql)
app.command("rules")(rules.rules_)
app.command()(analysis.analyze)
app.command()(report.report)
app.command()(report.summary)
app.command()(demo.demo)
app.add_typer(db.db_app, name="db")
app.add_typer(analysis.findings_app, name="findings")
app.add_typer(compare.compare_app, name="compare")

__all__ = ["app", "main"]
