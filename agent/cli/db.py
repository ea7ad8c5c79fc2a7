"""``costagent db ...``: the store's schema, its rollup and its read-only role."""

from __future__ import annotations

import typer

from agent.cli.app import errors, fail, open_engine, out, state, store
from agent.store.engine import DatabaseError

db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest version (Alembic migrations)."""
    from agent.store.engine import current_revision

    with errors():
        engine = open_engine(create=True)
        out.print(
            f"schema at revision {current_revision(engine)} "
            f"({engine.url.render_as_string(hide_password=True)})"
        )


@db_app.command("rollup")
def db_rollup() -> None:
    """Rebuild cost_daily (the per-day rollup the rules read) from the line items.

    Loads keep it up to date in their own transaction; this is for a store edited by hand."""
    from sqlalchemy import func, select

    from agent.store.daily import rebuild
    from agent.store.schema import CostDaily

    with errors(), store() as engine:
        with engine.begin() as conn:
            rebuild(conn)
            n = conn.execute(select(func.count()).select_from(CostDaily)).scalar_one()
        out.print(f"cost_daily rebuilt: {n:,} rows")


@db_app.command("reader")
def db_reader() -> None:
    """Set up (again) the PostgreSQL role `costagent sql` runs queries as.

    Migrations do it when costagent's database user may create roles; otherwise an
    administrator creates the role and this command finishes the set-up."""
    from agent.store.reader import READER, install

    with errors(), store() as engine:
        if engine.dialect.name != "postgresql":
            out.print("nothing to do: SQLite stores are opened read-only by `costagent sql`")
            return
        with engine.begin() as conn:
            problem = install(conn)
        if problem:
            fail(problem, 1)
        out.print(f"{READER} is set up: `costagent sql` runs queries with its rights only")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision without changing anything."""
    from agent.store.engine import current_revision, head_revision, make_engine

    with errors():
        engine = make_engine(state.settings.database.url)
        try:
            cur = current_revision(engine)
        except Exception as exc:
            raise DatabaseError(f"cannot open database: {exc}") from exc
        out.print(f"current: {cur or '(empty)'}  head: {head_revision()}")
