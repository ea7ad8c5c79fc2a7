"""The bulk loader: replaces whole slices in one transaction, on each database's fast path.

A *slice* is the unit a source re-delivers: for billing data (source, billing account, billing
period); for metrics (resource, metric, time range).  The first time a load meets a cost slice it
deletes the slice's old rows, then streams the new ones in: ``executemany`` on SQLite, ``COPY`` on
PostgreSQL.  Nothing is committed until the caller's transaction commits, so re-running a load
gives the same rows, a restated month replaces the old one, and a crash (even ``kill -9``) leaves
the previous state.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, case, literal_column, text
from sqlalchemy.dialects import postgresql, sqlite

from agent.store.bounds import check_table
from agent.store.clock import utcnow
from agent.store.daily import refresh as refresh_daily
from agent.store.schema import COST_COLUMNS, Resource
from agent.workloads import Classifier

Progress = Callable[[int], None]
SQLITE_CHUNK_ROWS = 8_192


class DuplicateDatapointError(Exception):
    """Two datapoints in one load share resource, metric, stat, time and period."""


ANALYZE_ROWS = 50_000  # a load this large refreshes the planner's statistics
_COST_JSON = frozenset({"tags", "x_raw"})


@dataclass
class LoadStats:
    rows: dict[str, int] = field(
        default_factory=lambda: {
            "cost": 0,
            "metrics": 0,
            "llm_requests": 0,
            "llm_usage": 0,
            "resources": 0,
        }
    )
    slices: list[str] = field(default_factory=list)


def cost_slices(table: pa.Table, source: str) -> pa.Array:
    """``source:billing_account:period`` for every row.

    The period is the billing period's month (``YYYY-MM``) — or its day (``YYYY-MM-DD``) when
    the file's billing periods are days, as in LiteLLM's FOCUS export, so that one day's file
    replaces that day and not the whole month.  Without a billing period: the charge's month.
    """
    start = table.column("billing_period_start")
    end = table.column("billing_period_end")
    month = pc.floor_temporal(start, unit="month")
    short = pc.less(pc.subtract(end, start), pa.scalar(timedelta(days=28), pa.duration("us")))
    daily = pc.fill_null(pc.or_(pc.not_equal(month, start), short), False)
    billing = pc.if_else(
        daily,
        pc.utf8_slice_codeunits(pc.cast(start, pa.string()), 0, 10),
        pc.utf8_slice_codeunits(pc.cast(start, pa.string()), 0, 7),
    )
    charge = pc.utf8_slice_codeunits(
        pc.cast(table.column("charge_period_start"), pa.string()), 0, 7
    )
    period = pc.fill_null(pc.coalesce(billing, charge), "unknown")
    account = pc.fill_null(table.column("billing_account_id"), "-")
    return pc.binary_join_element_wise(pa.scalar(source), account, period, ":")


_UNSCALED = pa.decimal128(38, 0)
_EXACT_INT = 2**53


def nearest_doubles(arr: pa.Array) -> pa.Array:
    """Decimals as the doubles nearest them, for SQLite's REAL columns.

    Arrow's own decimal → double cast is not correctly rounded (0.34 became
    0.33999999999999997).  A money value whose unscaled integer is below 2⁵³ is that integer
    divided by 10¹²: both operands are exact doubles and IEEE division rounds once, correctly.
    Anything else goes through text, whose parse is correctly rounded too (slower).
    """
    if arr.type != pa.decimal128(38, 12):
        return pc.cast(pc.cast(arr, pa.string()), pa.float64())
    unscaled = arr.view(_UNSCALED)
    ints = pc.cast(unscaled, pa.int64(), safe=False)
    fits = pc.and_(pc.less(pc.abs(ints), _EXACT_INT), pc.equal(pc.cast(ints, _UNSCALED), unscaled))
    exact = pc.divide(pc.cast(pc.if_else(fits, ints, 0), pa.float64()), 1e12)
    if pc.all(pc.fill_null(fits, True)).as_py():
        return exact
    return pc.if_else(fits, exact, pc.cast(pc.cast(arr, pa.string()), pa.float64()))


class Loader:
    """Writes canonical tables into the store through one open transaction (``conn``)."""

    def __init__(
        self,
        conn: Connection,
        classifier: Classifier | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.classifier = classifier or Classifier()
        self.progress = progress
        self.stats = LoadStats()
        self._seen_slices: set[str] = set()
        self._seen_usage: set[str] = set()
        self._metrics_staged = False
        if self.dialect == "sqlite":
            # Bigger page cache for the bulk insert (this connection only).  Temporary storage
            # stays on file: the rollup's GROUP BY (finish) spills its sort there — held in
            # memory it peaked at 732 MB for a 1M-row import.
            self.conn.exec_driver_sql("PRAGMA cache_size=-65536")

    # -- cost line items -----------------------------------------------------------------
    def write_cost(self, table: pa.Table, source: str, slices: pa.Array | None = None) -> None:
        if table.num_rows == 0:
            return
        check_table(table, _COST_JSON)
        workload, model = self.classifier.classify(table)
        existing = table.column("x_workload")
        if existing.null_count < len(existing):
            workload = pc.coalesce(existing, workload)
        table = table.set_column(table.schema.get_field_index("x_workload"), "x_workload", workload)
        table = table.set_column(
            table.schema.get_field_index("x_model"),
            "x_model",
            pc.coalesce(table.column("x_model"), model),
        )
        if slices is None:
            slices = cost_slices(table, source)
        self._replace_new_slices(pc.unique(slices).to_pylist())
        table = table.append_column("x_source", pa.array([source] * table.num_rows, pa.string()))
        table = table.append_column("x_slice", slices)
        table = table.select(list(COST_COLUMNS))
        self.insert_table("cost_line_items", table)
        self.stats.rows["cost"] += table.num_rows
        if self.progress:
            self.progress(table.num_rows)

    def _replace_new_slices(self, slices: Iterable[str]) -> None:
        for s in slices:
            if s in self._seen_slices:
                continue
            self._seen_slices.add(s)
            self.stats.slices.append(s)
            self._lock(f"slice:{s}")
            self.conn.execute(text("DELETE FROM cost_line_items WHERE x_slice = :s"), {"s": s})

    def _lock(self, key: str) -> None:
        """Serialise replacing ``key`` with every other transaction replacing it (PostgreSQL).

        Under READ COMMITTED two loads of one slice would each delete what the other has not
        committed yet and both insert: the slice stored twice.  A transaction-level advisory
        lock taken before the DELETE makes the second load wait for the first to commit; its
        DELETE then sees, and removes, the first one's rows.  SQLite needs nothing: its one
        writer holds the database from the first DELETE on.  The key includes the schema so
        stores sharing a database do not wait for each other.
        """
        if self.dialect != "postgresql":
            return
        self.conn.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || :k, 0))"
            ),
            {"k": key},
        )

    def replace_slices(self, slices: Iterable[str]) -> None:
        """Empty these slices even if no new row arrives for them (a source deleted a day)."""
        self._replace_new_slices(slices)

    # -- fast paths --------------------------------------------------------------------------
    def insert_table(self, name: str, table: pa.Table) -> None:
        """Append an Arrow table to ``name`` on the database's fast path."""
        if self.dialect == "postgresql":
            self._copy_pg(name, table)
        else:
            self._executemany_sqlite(name, table)

    def _executemany_sqlite(self, name: str, table: pa.Table, verb: str = "INSERT") -> None:
        # Python row tuples cost ~70 bytes a value; converting a slice at a time keeps a
        # 65k-row batch of 60 columns from holding 4 million objects at once.
        for start in range(0, table.num_rows, SQLITE_CHUNK_ROWS):
            self._executemany_sqlite_chunk(name, table.slice(start, SQLITE_CHUNK_ROWS), verb)

    def _executemany_sqlite_chunk(self, name: str, table: pa.Table, verb: str) -> None:
        # Columns null in every row of the chunk are left out (the default is NULL): a FOCUS or
        # CUR row leaves most of the ~80 columns empty, and each bound None costs as much as a
        # value.
        table = table.select(
            [i for i, col in enumerate(table.columns) if col.null_count < len(col)]
        )
        columns = []
        for col in table.columns:
            arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            if pa.types.is_decimal(arr.type):
                arr = nearest_doubles(arr)
            elif pa.types.is_date(arr.type):
                arr = pc.cast(arr, pa.string())  # "YYYY-MM-DD", SQLAlchemy's SQLite Date
            elif pa.types.is_timestamp(arr.type):
                # Arrow's cast prints "YYYY-MM-DD HH:MM:SS.ffffff", SQLAlchemy's SQLite format,
                # ten times faster than strftime.
                arr = pc.cast(pc.cast(arr, pa.timestamp("us")), pa.string())
            columns.append(arr.to_pylist())
        names = ", ".join(table.column_names)
        marks = ", ".join("?" * table.num_columns)
        cursor = self._driver_cursor()
        try:
            cursor.executemany(
                f"{verb} INTO {name} ({names}) VALUES ({marks})", zip(*columns, strict=True)
            )
        finally:
            cursor.close()

    def _driver_cursor(self) -> Any:
        """The DBAPI driver's own cursor (sqlite3's executemany, psycopg's COPY): the fast
        paths SQLAlchemy does not wrap. A pooled connection always has its driver connection."""
        driver = self.conn.connection.driver_connection
        if driver is None:
            raise RuntimeError("the store connection was closed during a load")
        return driver.cursor()

    def _copy_pg(self, name: str, table: pa.Table) -> None:
        # Arrow writes the batch as CSV in C; PostgreSQL parses it in C.  Unquoted empty
        # fields are NULL, quoted "" is the empty string, so nulls survive the trip.
        buf = io.BytesIO()
        pacsv.write_csv(
            table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
        names = ", ".join(table.column_names)
        cursor = self._driver_cursor()
        try:
            with cursor.copy(f"COPY {name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buf.getbuffer())
        finally:
            cursor.close()

    # -- usage metrics -----------------------------------------------------------------------
    def write_metrics(self, table: pa.Table, source: str) -> None:
        """Stage datapoints; :meth:`finish` replaces each (resource, metric) time range."""
        if table.num_rows == 0:
            return
        check_table(table, frozenset({"dimensions"}))
        if not self._metrics_staged:
            temp = "TEMPORARY" if self.dialect == "postgresql" else "TEMP"
            self.conn.exec_driver_sql(
                f"CREATE {temp} TABLE _stage_metrics (resource_id TEXT, metric TEXT, "
                "ts TIMESTAMP, period_s INTEGER, value FLOAT, unit TEXT, stat TEXT, "
                "x_source TEXT, dimensions TEXT)"
            )
            self._metrics_staged = True
        table = table.append_column("x_source", pa.array([source] * table.num_rows, pa.string()))
        self.insert_table("_stage_metrics", table)
        self.stats.rows["metrics"] += table.num_rows
        if self.progress:
            self.progress(table.num_rows)

    def _finish_metrics(self) -> None:
        if not self._metrics_staged:
            return
        self._lock("usage_metrics")  # ranges of two loads may overlap: one at a time
        dup = self.conn.exec_driver_sql(
            "SELECT resource_id, metric, stat, ts, period_s FROM _stage_metrics "
            "GROUP BY resource_id, metric, stat, ts, period_s HAVING COUNT(*) > 1 LIMIT 1"
        ).first()
        if dup is not None:
            raise DuplicateDatapointError(
                f"duplicate datapoint: resource {dup[0]}, metric {dup[1]} ({dup[2]}), "
                f"at {dup[3]}, period {dup[4]} s appears twice in the input"
            )
        ranges = self.conn.exec_driver_sql(
            "SELECT resource_id, metric, MIN(ts), MAX(ts) FROM _stage_metrics "
            "GROUP BY resource_id, metric ORDER BY resource_id, metric"
        ).all()
        self.conn.exec_driver_sql(
            "DELETE FROM usage_metrics WHERE EXISTS (SELECT 1 FROM ("
            " SELECT resource_id, metric, MIN(ts) AS lo, MAX(ts) AS hi FROM _stage_metrics"
            " GROUP BY resource_id, metric) r"
            " WHERE r.resource_id = usage_metrics.resource_id"
            " AND r.metric = usage_metrics.metric"
            " AND usage_metrics.ts >= r.lo AND usage_metrics.ts <= r.hi)"
        )
        cast = "CAST(dimensions AS JSONB)" if self.dialect == "postgresql" else "dimensions"
        self.conn.exec_driver_sql(
            "INSERT INTO usage_metrics (resource_id, metric, ts, period_s, value, unit, stat,"
            " x_source, dimensions) SELECT resource_id, metric, ts, period_s, value, unit, stat,"
            f" x_source, {cast} FROM _stage_metrics"
        )
        self.conn.exec_driver_sql("DROP TABLE _stage_metrics")
        self._metrics_staged = False
        for resource_id, metric, lo, hi in ranges:
            self.stats.slices.append(f"metrics:{resource_id}:{metric}:{lo}..{hi}")

    # -- LLM requests ------------------------------------------------------------------------
    def write_llm_requests(self, table: pa.Table, source: str) -> None:
        """Insert calls not seen before (their key is stable across re-imports), on the fast
        path: ``INSERT OR IGNORE`` by executemany on SQLite; on PostgreSQL ``COPY`` into a
        staging table, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``."""
        if table.num_rows == 0:
            return
        check_table(table)
        table = table.append_column("x_source", pa.array([source] * table.num_rows, pa.string()))
        if self.dialect == "postgresql":
            names = ", ".join(table.column_names)
            self.conn.exec_driver_sql(
                "CREATE TEMPORARY TABLE IF NOT EXISTS _stage_llm_requests "
                "(LIKE llm_requests INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            self.conn.exec_driver_sql("TRUNCATE _stage_llm_requests")
            self._copy_pg("_stage_llm_requests", table)
            self.conn.exec_driver_sql(
                f"INSERT INTO llm_requests ({names}) SELECT {names} FROM _stage_llm_requests "
                "ON CONFLICT (x_request_key) DO NOTHING"
            )
        else:
            self._executemany_sqlite("llm_requests", table, verb="INSERT OR IGNORE")
        self.stats.rows["llm_requests"] += table.num_rows
        if self.progress:
            self.progress(table.num_rows)

    # -- LLM usage buckets -------------------------------------------------------------------
    def replace_usage_slices(self, slices: Iterable[str]) -> None:
        """Empty these ``llm_usage`` slices (a source's UTC days) before their buckets are
        written, also when the API now reports nothing for a day: a restated bucket replaces
        the old one, a re-run over the same window changes nothing."""
        for s in slices:
            key = f"usage:{s}"
            if key in self._seen_usage:
                continue
            self._seen_usage.add(key)
            self._lock(key)
            self.conn.execute(text("DELETE FROM llm_usage WHERE x_slice = :s"), {"s": s})
            self.stats.slices.append(key)

    def write_llm_usage(self, table: pa.Table, source: str) -> None:
        """Append usage buckets; their slices must have been replaced in this transaction."""
        if table.num_rows == 0:
            return
        check_table(table)
        fresh = set(pc.unique(table.column("x_slice")).to_pylist())
        missing = {f"usage:{s}" for s in fresh} - self._seen_usage
        if missing:  # a collector bug: appending to a slice it did not replace doubles it
            raise ValueError(f"llm_usage slices not replaced first: {sorted(missing)[:3]}")
        table = table.append_column("x_source", pa.array([source] * table.num_rows, pa.string()))
        self.insert_table("llm_usage", table)
        self.stats.rows["llm_usage"] += table.num_rows
        if self.progress:
            self.progress(table.num_rows)

    # -- inventory ---------------------------------------------------------------------------
    def write_resources(self, table: pa.Table, source: str) -> None:
        """Upsert snapshots: latest attributes win, first_seen/last_seen widen."""
        if table.num_rows == 0:
            return
        check_table(table, frozenset({"attributes"}))
        latest: dict[str, dict[str, Any]] = {}
        for r in table.to_pylist():
            seen = r.pop("observed_at") or utcnow()
            r["attributes"] = _json_value(r["attributes"])
            cur = latest.get(r["resource_id"])
            if cur is None:
                latest[r["resource_id"]] = {
                    **r,
                    "first_seen": seen,
                    "last_seen": seen,
                    "x_source": source,
                }
            else:
                cur["first_seen"] = min(cur["first_seen"], seen)
                if seen >= cur["last_seen"]:
                    cur.update({**r, "last_seen": seen})
        tbl = Resource.__table__
        stmt = self._insert(tbl)
        ex = stmt.excluded
        newer = ex.last_seen >= tbl.c.last_seen
        stmt = stmt.on_conflict_do_update(
            index_elements=["resource_id"],
            set_={
                "first_seen": case(
                    (ex.first_seen < tbl.c.first_seen, ex.first_seen), else_=tbl.c.first_seen
                ),
                "last_seen": case((newer, ex.last_seen), else_=tbl.c.last_seen),
                "attributes": case((newer, ex.attributes), else_=tbl.c.attributes),
                "provider_name": case((newer, ex.provider_name), else_=tbl.c.provider_name),
                "resource_type": case((newer, ex.resource_type), else_=tbl.c.resource_type),
                "region_id": case((newer, ex.region_id), else_=tbl.c.region_id),
                "x_source": literal_column("excluded.x_source"),
            },
        )
        self.conn.execute(stmt, list(latest.values()))
        self.stats.rows["resources"] += len(latest)
        if self.progress:
            self.progress(table.num_rows)

    def _insert(self, table: Any) -> Any:
        module = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)

    def finish(self) -> LoadStats:
        """Complete staged work; call before the transaction commits."""
        self._finish_metrics()
        if self._seen_slices:
            if self.dialect == "sqlite":  # the sort's in-memory share is the page cache
                self.conn.exec_driver_sql("PRAGMA cache_size=-16384")
            refresh_daily(self.conn, self._seen_slices)
        self._refresh_statistics()
        return self.stats

    def _refresh_statistics(self) -> None:
        """After a bulk load, give the planner fresh statistics of the tables it changed.

        Without them PostgreSQL plans the rules' semi-joins over a just-COPYed table as if it
        were tiny (nested loops: 42 s instead of 0.4 s for one query at 1M rows) until
        autovacuum gets round to it; SQLite's ``PRAGMA optimize`` does the same when useful.
        Small loads skip it.
        """
        tables = {
            "cost": "cost_line_items",
            "metrics": "usage_metrics",
            "llm_requests": "llm_requests",
            "llm_usage": "llm_usage",
            "resources": "resources",
        }
        big = [tables[k] for k, n in self.stats.rows.items() if n >= ANALYZE_ROWS and k in tables]
        if "cost_line_items" in big:
            big.append("cost_daily")
        if not big:
            return
        if self.dialect == "postgresql":
            for name in big:
                self.conn.execute(text(f"ANALYZE {name}"))
        elif self.dialect == "sqlite":
            self.conn.execute(text("PRAGMA optimize"))


def _json_value(text_value: str | None) -> Any:
    return None if text_value is None else json.loads(text_value)
