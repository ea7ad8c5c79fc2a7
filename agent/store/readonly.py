"""``costagent sql``: ad-hoc queries that the database itself refuses to let write.

The guard is the database's, not a regex on the query text:
- SQLite: the file is opened ``mode=ro`` (the OS handle cannot write), ``PRAGMA query_only`` is
  on, and an authorizer denies ATTACH/DETACH, every write and every PRAGMA that is not a read
  (``PRAGMA table_info(t)`` and its kind take a table; ``user_version`` and the like may only be
  read, never set), so ``PRAGMA writable_schema`` fails too.  A progress handler cancels the
  query after the timeout (a recursive CTE would otherwise run for ever).
- PostgreSQL: the statement runs inside ``BEGIN READ ONLY`` after a first query, with a
  ``statement_timeout``, inside the ``SECURITY DEFINER`` function of the ``costagent_reader``
  role (:mod:`agent.store.reader`): the query has the reader's rights only — no write, no
  ``COPY … TO PROGRAM``, no server files, no other backends — even when costagent's own user
  is a superuser, and it cannot change role.  It is parsed first as one prepared statement (so
  ``COMMIT; DELETE …`` cannot smuggle a second statement); the transaction is rolled back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from agent.store.engine import normalise_url
from agent.store.reader import ADMIN_SQL, FUNCTION, READER


class ReadOnlyViolation(Exception):
    """The query tried to write or to escape read-only mode."""


class QueryError(Exception):
    """The query failed (syntax, unknown table, ...)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


# Pragmas that only read: they may run, every other pragma is denied.
#: Pragmas whose argument names a table or index to describe: they may take it.
_DESCRIBE_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
# Pragmas that only read: they may run (without an argument, which for most would set them).
_READ_PRAGMAS = _DESCRIBE_PRAGMAS | frozenset(
    {
        "database_list",
        "compile_options",
        "user_version",
        "schema_version",
        "page_count",
        "page_size",
        "freelist_count",
        "encoding",
        "collation_list",
        "function_list",
        "pragma_list",
        "table_list",
        "integrity_check",
        "quick_check",
        "data_version",
    }
)
_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}


def _authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and _trigger is None:
        # a table-valued pragma (pragma_table_info('t')) asks this while reading the schema;
        # no write can follow: the file is read-only and writable_schema cannot be set
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1:
        name = arg1.lower()
        if name in _DESCRIBE_PRAGMAS or (name in _READ_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class _ExactSum:
    """``sum``/``total``/``avg`` over SQLite's doubles, added as exact decimals.

    SQLite keeps money as doubles (each the nearest to its exact decimal), and its own ``SUM``
    adds them in binary: ``958.8162664608002`` for a sum whose exact value is 958.8162664608.
    Each double is read back through its shortest repr (the decimal it was stored from), the
    decimals are added exactly, and the result is the double nearest the exact total, so the
    printed figure has no float noise.  Integers stay integers (SQLite's overflow error kept).
    Registered as window functions, ``SUM(x) OVER (…)`` keeps working.
    """

    kind = "sum"

    def __init__(self) -> None:
        self.total: Decimal | int = 0
        self.count = 0
        self.exact_int = True

    def _value(self, v: Any) -> Decimal | int | None:
        if v is None:
            return None
        if isinstance(v, bool | int):
            return int(v)
        self.exact_int = False
        if isinstance(v, float):
            return Decimal(repr(v))
        try:  # text or blobs count as the number they start with, as in SQLite: roughly
            return Decimal(v.decode() if isinstance(v, bytes) else str(v))
        except (InvalidOperation, UnicodeDecodeError):
            return Decimal(0)

    def step(self, v: Any) -> None:
        x = self._value(v)
        if x is not None:
            self.total += x
            self.count += 1

    def inverse(self, v: Any) -> None:
        x = self._value(v)
        if x is not None:
            self.total -= x
            self.count -= 1

    def value(self) -> Any:
        if self.kind == "total":
            return float(self.total)
        if self.count == 0:
            return None
        if self.kind == "avg":
            return float(Decimal(self.total) / self.count)
        if self.exact_int:
            if not -(2**63) <= int(self.total) < 2**63:
                raise OverflowError("integer overflow")
            return int(self.total)
        return float(self.total)

    def finalize(self) -> Any:
        return self.value()


class _ExactTotal(_ExactSum):
    kind = "total"


class _ExactAvg(_ExactSum):
    kind = "avg"


def _exact_sums(conn: sqlite3.Connection) -> None:
    for name, cls in (("sum", _ExactSum), ("total", _ExactTotal), ("avg", _ExactAvg)):
        conn.create_window_function(name, 1, cls)


def _sqlite(path: str, query: str, limit: int | None, timeout: float) -> QueryResult:
    if not Path(path).exists():
        raise QueryError(f"{path}: database not found (run `costagent init` or `costagent demo`)")
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        _exact_sums(conn)
        conn.set_authorizer(_authorizer)
        deadline = time.monotonic() + timeout
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cur = conn.execute(query)
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
        except sqlite3.DatabaseError as exc:
            msg = str(exc)
            if msg == "interrupted":
                raise QueryError(f"query cancelled after {timeout:g} s (--timeout)") from None
            if any(w in msg for w in ("not authorized", "readonly", "read-only", "query_only")):
                raise ReadOnlyViolation(f"refused: {msg} (costagent sql is read-only)") from None
            raise QueryError(msg) from None
        except sqlite3.Warning as exc:  # e.g. more than one statement
            raise QueryError(str(exc)) from None
        columns = [d[0] for d in cur.description or []]
        return QueryResult(columns, [tuple(r) for r in rows])
    finally:
        conn.close()


#: type OIDs whose JSON text is turned back into Python values
_TIMESTAMPS = {1114, 1184}
_DATES = {1082}
_FLOATS = {700, 701}
_NUMERIC = {1700}


def _postgres(url: str, query: str, limit: int | None, timeout: float) -> QueryResult:
    import psycopg

    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    query = query.strip().rstrip(";").strip()
    try:
        conn = psycopg.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as exc:
        raise QueryError(f"cannot connect: {str(exc).strip().splitlines()[0]}") from None
    try:
        conn.execute("BEGIN READ ONLY")
        conn.execute("SELECT set_config('statement_timeout', %s, true)", [f"{int(timeout * 1000)}"])
        conn.execute("SELECT 1")  # from here on the transaction cannot become read-write
        fn = conn.execute(
            "SELECT to_regprocedure(quote_ident(current_schema()) || %s)",
            [f".{FUNCTION}(text)"],
        ).fetchone()
        if fn is None or fn[0] is None:
            raise QueryError(
                f"refused: this PostgreSQL store has no {READER} role set up, and costagent sql "
                f"will not run a query with its own user's rights; have an administrator run "
                f"{ADMIN_SQL!r}, then `costagent db reader`"
            )
        columns, types = _describe(conn, query)
        try:
            cur = conn.execute(f"SELECT * FROM {FUNCTION}(%s)", [query])
            raw = cur.fetchmany(limit) if limit else cur.fetchall()
        except psycopg.errors.QueryCanceled:
            raise QueryError(f"query cancelled after {timeout:g} s (--timeout)") from None
        except (
            psycopg.errors.ReadOnlySqlTransaction,
            psycopg.errors.InsufficientPrivilege,
        ) as exc:
            raise ReadOnlyViolation(
                f"refused: {exc.diag.message_primary} (costagent sql is read-only)"
            ) from None
        except psycopg.Error as exc:
            raise QueryError(exc.diag.message_primary or str(exc)) from None
        rows = [_row(text_, types) for (text_,) in raw]
        return QueryResult(columns, rows)
    finally:
        try:
            conn.execute("ROLLBACK")
        finally:
            conn.close()


def _describe(conn: Any, query: str) -> tuple[list[str], list[int]]:
    """The query's column names and types, from the server's parse of it — as the reader
    (nothing runs: a prepared statement is only parsed and planned).  Refuses more than one
    statement, like the server does for any prepared statement."""
    from psycopg import pq

    member = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [READER]).fetchone()
    if member and member[0]:
        conn.execute(f"SET LOCAL ROLE {READER}")
    pgconn = conn.pgconn
    result = pgconn.prepare(b"", query.encode())
    if result.status != pq.ExecStatus.COMMAND_OK:
        msg = (result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode()
        if "multiple commands" in msg:
            msg += " (costagent sql runs one statement at a time)"
        raise QueryError(msg or "the query could not be parsed")
    described = pgconn.describe_prepared(b"")
    names = [(described.fname(i) or b"?").decode() for i in range(described.nfields)]
    types = [described.ftype(i) for i in range(described.nfields)]
    conn.execute("RESET ROLE")  # the function runs as the reader whoever calls it
    if not names:
        raise QueryError("the statement returns no rows (costagent sql runs queries)")
    return names, types


class _Object(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs: a row keeps duplicate column names apart."""


def _row(text_: str, types: list[int]) -> tuple[Any, ...]:
    pairs = json.loads(text_, parse_float=Decimal, object_pairs_hook=_Object)
    return tuple(_value(v, t) for (_, v), t in zip(pairs, types, strict=True))


def _plain(value: Any) -> Any:
    if isinstance(value, _Object):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _value(value: Any, oid: int) -> Any:
    if value is None:
        return None
    if oid in _TIMESTAMPS and isinstance(value, str):
        return datetime.fromisoformat(value)
    if oid in _DATES and isinstance(value, str):
        return date.fromisoformat(value)
    if oid in _NUMERIC and isinstance(value, int | Decimal):
        return Decimal(value)
    if oid in _FLOATS and isinstance(value, int | Decimal):
        return float(value)
    return _plain(value)  # json / jsonb values, nested objects as dicts


DEFAULT_TIMEOUT = 300.0


def run_readonly(
    url: str, query: str, limit: int | None = None, timeout: float = DEFAULT_TIMEOUT
) -> QueryResult:
    """One read-only statement; cancelled after ``timeout`` seconds on either database."""
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise QueryError("costagent sql needs a database file")
        return _sqlite(parsed.database, query, limit, timeout)
    if backend == "postgresql":
        return _postgres(url, query, limit, timeout)
    raise QueryError(f"unsupported database {backend!r}")
