"""Opening the database: engines, pragmas, migrations to head, and the read-only engine.

Every command that opens a database brings it to the newest schema first, so a user upgrading
costagent never has to remember a separate migration step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

import migrations


class DatabaseError(Exception):
    """The database cannot be opened or used; the message says what to do."""


class BadDatabaseUrl(DatabaseError):
    """``--db`` / ``database.url`` names no database costagent can use (bad usage: exit 2)."""


class StoreMissing(DatabaseError):
    """A command that only reads was pointed at a store that does not exist (exit 2): a
    mistyped ``--db`` must not silently create an empty store and report $0.00."""


SUPPORTED = (
    "costagent keeps its store in SQLite (sqlite:///PATH, or just a file path) or PostgreSQL "
    "(postgresql://user@host/db)"
)


def normalise_url(url: str) -> str:
    """A SQLAlchemy URL for ``url``: a plain path is a SQLite file; ``postgresql://`` uses
    psycopg 3 (the only PostgreSQL driver we ship); any other scheme is refused by name."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    try:
        parsed = make_url(url)
    except Exception:
        scheme = url.split("://")[0]
        raise BadDatabaseUrl(f"{scheme}://…: not a database URL; {SUPPORTED}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql") or parsed.drivername not in (
        "sqlite",
        "sqlite+pysqlite",
        "postgresql+psycopg",
    ):
        raise BadDatabaseUrl(f"unsupported database URL scheme {parsed.drivername!r}; {SUPPORTED}")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (costagent sql, reports) run while a load writes; NORMAL is durable
    # at every commit boundary in WAL mode, which is the only boundary a load relies on.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


#: PostgreSQL connections older than this are replaced (server-side idle timeouts, proxies).
PG_POOL_RECYCLE_SECONDS = 1800


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # The daemon keeps its engine for months: a pooled connection that a server restart,
        # failover or idle timeout killed must be noticed (a ping on checkout, replaced) and
        # not fail the next job.
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_recycle", PG_POOL_RECYCLE_SECONDS)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        parent = Path(parsed.database).expanduser().resolve().parent
        if not parent.exists():
            raise DatabaseError(f"{parent}: directory does not exist (create it or fix --db)")
    try:
        engine = create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"database driver missing ({exc.name}); install with: pip install 'costagent[postgres]'"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (a no-op when it is there already), all or nothing.

    PostgreSQL's DDL is transactional as it comes.  Python's sqlite3 (before 3.12) runs DDL
    outside any transaction, so an interrupted migration (SIGTERM, a full disk) would leave half
    a schema that the next start cannot migrate ("duplicate column"); on SQLite the migrations
    therefore run on a connection of their own whose transaction SQLAlchemy begins itself
    (``BEGIN IMMEDIATE``: the write lock up front, so two processes starting at once migrate
    one after the other).
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return
    cfg = alembic_config()
    target = _transactional_sqlite(engine) if engine.dialect.name == "sqlite" else engine
    try:
        with target.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if target is not engine:
            target.dispose()


def _transactional_sqlite(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose ``begin()`` really begins, DDL included."""
    own = make_engine(engine.url.render_as_string(hide_password=False), poolclass=NullPool)

    @event.listens_for(own, "connect")
    def _manual(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver's implicit (DML-only) BEGIN off

    @event.listens_for(own, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return own


def open_store(url: str, create: bool = True) -> Engine:
    """An engine on ``url`` whose schema is at head.

    ``create=False`` (commands that only read or annotate a store) refuses, with
    :class:`StoreMissing`, a SQLite file that does not exist or a database without costagent's
    schema, instead of creating an empty store in the wrong place.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if not create:
        require_sqlite_file(url)
    engine = make_engine(url)
    try:
        if not create and current_revision(engine) is None:
            raise StoreMissing(f"{parsed.render_as_string(hide_password=True)}: {_NO_STORE}")
        upgrade(engine)
    except StoreMissing:
        engine.dispose()
        raise
    except Exception as exc:  # connection refused, bad credentials, ...
        engine.dispose()
        raise DatabaseError(f"cannot open database {make_url(url)!r}: {exc}") from exc
    return engine


def require_sqlite_file(url: str) -> None:
    """Refuse (:class:`StoreMissing`) a SQLite URL whose file does not exist: connecting would
    create it."""
    parsed = make_url(normalise_url(url))
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not Path(database).exists()
    ):
        raise StoreMissing(f"{database}: {_NO_STORE}")


_NO_STORE = (
    "no costagent store there (a typo in --db or database.url?); `costagent init`, "
    "`import`, `collect` or `demo` create one"
)


#: SQLSTATEs after which the whole transaction may simply be run again.
_RETRYABLE = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
T = TypeVar("T")


def retry_deadlocks(work: Callable[[], T], attempts: int = 3) -> T:
    """Run ``work`` (one whole transaction) again when PostgreSQL aborted it as the loser of a
    deadlock or a serialization conflict: two loads locking the same slices in different
    orders is a lost race, not an error for the user."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            if code not in _RETRYABLE or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def store_gone(exc: BaseException) -> bool:
    """Whether an error says the store's tables are not there any more (the database was
    dropped and created again, or the SQLite file replaced): a daemon cannot go on with it."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "42P01":  # undefined_table
        return True
    return "no such table" in str(orig)


def superuser(engine: Engine) -> str | None:
    """The PostgreSQL role this engine logs in as, when it is a superuser (else None).

    A superuser's daemon can be turned into a shell on the database server by anyone who can
    get a string into a query; the daemon says so at start-up, so that a deployment notices.
    """
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).first()
    return str(row[0]) if row is not None and row[1] else None
