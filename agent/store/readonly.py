"""``costagent sql``: ad-hoc queries that the database itself refuses to let write.

The guard is the database's, not a regex on the query text:
- SQLite: the file is opened ``mode=ro`` (the OS handle cannot write), ``PRAGMA query_only`` is
  on, and an authorizer denies ATTACH/DETACH, every write and every PRAGMA that is not a plain
  read, so ``PRAGMA writable_schema`` fails too.
- PostgreSQL: the statement runs inside ``BEGIN READ ONLY`` after a first query (so it cannot
  switch the transaction to read-write), as one prepared statement (so ``COMMIT; DELETE …``
  cannot smuggle a second statement), and the transaction is rolled back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from agent.store.engine import normalise_url


class ReadOnlyViolation(Exception):
    """The query tried to write or to escape read-only mode."""


class QueryError(Exception):
    """The query failed (syntax, unknown table, ...)."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


# Pragmas that only read: they may run, every other pragma is denied.
_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "index_list",
        "index_info",
        "foreign_key_list",
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
    if action == sqlite3.SQLITE_PRAGMA and arg1 and arg1.lower() in _READ_PRAGMAS and arg2 is None:
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


def _sqlite(path: str, query: str, limit: int | None) -> QueryResult:
    if not Path(path).exists():
        raise QueryError(f"{path}: database not found (run `costagent init` or `costagent demo`)")
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        _exact_sums(conn)
        conn.set_authorizer(_authorizer)
        try:
            cur = conn.execute(query)
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
        except sqlite3.DatabaseError as exc:
            msg = str(exc)
            if any(w in msg for w in ("not authorized", "readonly", "read-only", "query_only")):
                raise ReadOnlyViolation(f"refused: {msg} (costagent sql is read-only)") from None
            raise QueryError(msg) from None
        except sqlite3.Warning as exc:  # e.g. more than one statement
            raise QueryError(str(exc)) from None
        columns = [d[0] for d in cur.description or []]
        return QueryResult(columns, [tuple(r) for r in rows])
    finally:
        conn.close()


def _postgres(url: str, query: str, limit: int | None) -> QueryResult:
    import psycopg

    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as exc:
        raise QueryError(f"cannot connect: {str(exc).strip().splitlines()[0]}") from None
    try:
        conn.execute("BEGIN READ ONLY")
        conn.execute("SET LOCAL statement_timeout = '10min'")
        conn.execute("SELECT 1")
        try:
            cur = conn.cursor()
            cur.execute(query.encode(), prepare=True)
            rows = (cur.fetchmany(limit) if limit else cur.fetchall()) if cur.description else []
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise ReadOnlyViolation(
                f"refused: {exc.diag.message_primary} (costagent sql is read-only)"
            ) from None
        except psycopg.Error as exc:
            msg = exc.diag.message_primary or str(exc)
            if "multiple commands" in msg:
                msg += " (costagent sql runs one statement at a time)"
            raise QueryError(msg) from None
        columns = [d.name for d in cur.description or []]
        return QueryResult(columns, [tuple(r) for r in rows])
    finally:
        try:
            conn.execute("ROLLBACK")
        finally:
            conn.close()


def run_readonly(url: str, query: str, limit: int | None = None) -> QueryResult:
    url = normalise_url(url)
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise QueryError("costagent sql needs a database file")
        return _sqlite(parsed.database, query, limit)
    if backend == "postgresql":
        return _postgres(url, query, limit)
    raise QueryError(f"unsupported database {backend!r}")
