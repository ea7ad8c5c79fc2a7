"""What the OpenAI and Anthropic admin-API sources share: window, key, checks, rows, one load.

Both providers report usage in time buckets (grouped by model, project / workspace, API key,
batch / service tier) and costs per day, through paged GETs authorised by an *admin* key.  A run
re-pulls the last ``trailing_days`` UTC days (recent buckets are still filling and costs are
restated), from where the last run ended if that is earlier, so a daemon that was down catches up;
the first run pulls ``initial_days``.  Every day of the window is a slice of ``llm_usage`` and of
``cost_line_items``, replaced as a whole in one transaction with the new window end: re-running
changes nothing, a restated bucket replaces the old one, a day that is now empty is emptied.

Values are checked as they arrive: token counts whole and ``0 ≤ n < 10¹⁵``, money finite and
``|x| < 10¹⁵``, currencies three letters, bucket times inside the store's range — an answer
outside that fails the run naming the API, the bucket and the field, and writes nothing.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
from pydantic import Field, SecretStr
from sqlalchemy import Connection, Engine

from agent.secrets import MissingSecret, env_secret, file_secret
from agent.settings import CoreSettings
from agent.store.bounds import EARLIEST, LATEST, MONEY_LIMIT, QUANTITY_LIMIT, checked_count
from agent.store.state import get_state, put_state
from collectors.base import Collector, CollectResult, Day, SourceConfig
from collectors.http_api import ApiError, JsonApi
from collectors.load import load, table
from collectors.window import days

log = logging.getLogger(__name__)
TOKEN_PLACES = Decimal("1e-12")  # the store's money scale


class LlmAdminSourceConfig(SourceConfig):
    """Keys every admin-API source has; each provider sets its own defaults."""

    admin_key_env: str = Field(description="environment variable that holds the admin key")
    admin_key_file: Path | None = Field(
        None,
        description="file whose first line is the admin key (instead of admin_key_env)",
        examples=["/run/secrets/admin-key"],
    )
    base_url: str = Field(description="the API's base URL (a proxy or a test server)")
    bucket_width: str = Field("1d", pattern=r"^(1h|1d)$", description="usage buckets: 1h or 1d")
    trailing_days: int = Field(3, ge=1, le=31, description="UTC days re-pulled on every run")
    initial_days: int = Field(30, ge=1, le=366, description="UTC days the first run pulls")
    costs: bool = Field(True, description="also load the cost report as cost line items")
    organization: str | None = Field(
        None,
        description="billing_account_id of the cost rows (default: the source name)",
        examples=["org-acme"],
    )
    max_wait_seconds: float = Field(
        60.0, ge=0, le=600, description="longest rate-limit wait before the run fails"
    )


class ApiDataError(ApiError):
    """The API answered something the store cannot hold (a count that is no count, …)."""


class Bucket:
    """Where a value came from, for error messages: API, endpoint and bucket start."""

    def __init__(self, api: str, endpoint: str, start: datetime) -> None:
        self.api, self.endpoint, self.start = api, endpoint, start

    def fail(self, field: str, value: Any, what: str) -> ApiDataError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return ApiDataError(
            f"{self.api}: {self.endpoint}, bucket {self.start:%Y-%m-%d %H:%M}, {field}: "
            f"{shown} is not {what}"
        )

    def count(self, obj: Mapping[str, Any], field: str, label: str | None = None) -> int | None:
        """A token or request count: a whole number ``0 ≤ n < 10¹⁵``, or None when absent."""
        value = obj.get(field)
        if value is None:
            return None
        try:
            return checked_count(value)
        except ValueError as exc:
            raise self.fail(label or field, value, str(exc)) from None

    def quantity(self, obj: Mapping[str, Any], field: str) -> float | None:
        """A usage quantity: finite, ``|x| < 10²⁴``, or None when absent."""
        value = obj.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self.fail(field, value, "a number")
        number = Decimal(value)
        if not number.is_finite() or abs(number) >= Decimal(QUANTITY_LIMIT):
            raise self.fail(field, value, "a quantity below 10^24")
        return float(number)

    def money(self, value: Any, field: str, scale: Decimal = Decimal(1)) -> Decimal:
        """An amount (``value × scale``) to the store's 12 decimals, correctly rounded."""
        try:
            amount = Decimal(value) if isinstance(value, str | int | Decimal) else None
        except InvalidOperation:
            amount = None
        if amount is None or isinstance(value, bool) or not amount.is_finite():
            raise self.fail(field, value, "an amount")
        amount *= scale
        if abs(amount) >= MONEY_LIMIT:
            raise self.fail(field, value, "an amount below 10^15")
        return amount.quantize(TOKEN_PLACES)

    def currency(self, value: Any, field: str) -> str:
        if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
            raise self.fail(field, value, "a three-letter currency code")
        return value.upper()

    def text(self, obj: Mapping[str, Any], field: str) -> str | None:
        value = obj.get(field)
        if value is None or isinstance(value, str):
            return value
        raise self.fail(field, value, "text")


def checked_time(api: str, endpoint: str, value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ApiDataError(f"{api}: {endpoint}: bucket time {value} outside 2000..2099")
    return value


def buckets(
    api: JsonApi,
    path: str,
    params: list[tuple[str, str]],
    keys: tuple[str, str],
    parse: Callable[[Any], datetime],
) -> Iterator[tuple[dict[str, Any], datetime, datetime]]:
    """``(bucket, start, end)`` of every bucket on every page; ``keys`` name the bucket's start
    and end fields, ``parse`` reads one (a naive UTC datetime, or ValueError)."""
    for page in api.pages(path, params):
        yield from page_buckets(api.name, path, page, keys, parse)


def page_buckets(
    api: str,
    path: str,
    page: Mapping[str, Any],
    keys: tuple[str, str],
    parse: Callable[[Any], datetime],
) -> Iterator[tuple[dict[str, Any], datetime, datetime]]:
    """The buckets of one page (fetched, or saved to a file and imported)."""
    data = page.get("data")
    if not isinstance(data, list):
        raise ApiError(f"{api}: {path}: the answer has no data list")
    for bucket in data:
        if not isinstance(bucket, dict):
            raise ApiError(f"{api}: {path}: a bucket that is not an object")
        try:
            start, end = parse(bucket[keys[0]]), parse(bucket[keys[1]])
        except (KeyError, TypeError, ValueError, OverflowError, OSError, ArithmeticError):
            raise ApiError(f"{api}: {path}: a bucket without valid {keys[0]} / {keys[1]}") from None
        yield bucket, checked_time(api, path, start), checked_time(api, path, end)


def results(api: str, bucket: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    """A bucket's result objects (both APIs put them under ``results``)."""
    found = bucket.get("results")
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise ApiError(f"{api}: {path}: a bucket whose results are not a list of objects")
    return found


AdminConfigT = TypeVar("AdminConfigT", bound="LlmAdminSourceConfig")


class AdminUsageCollector(Collector[AdminConfigT]):
    """One run of an admin-API source: fetch the window's usage (and costs), load it at once."""

    api_name: ClassVar[str]  # "OpenAI Admin API"
    provider_name: ClassVar[str]  # FOCUS ProviderName of the cost rows
    service_name: ClassVar[str]  # FOCUS ServiceName of the cost rows

    @abstractmethod
    def api(self, key: SecretStr) -> JsonApi:
        """The client, its headers carrying ``key``."""

    @abstractmethod
    def usage(self, api: JsonApi, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        """``llm_usage`` rows (without ``x_slice``) of the buckets starting in [lo, hi)."""

    @abstractmethod
    def cost(self, api: JsonApi, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        """Cost rows of the days in [lo, hi), as :func:`cost_row` makes them."""

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        api = self.api(self._key())
        api.max_wait_seconds = self.config.max_wait_seconds
        today = datetime.now(UTC).date()
        with engine.connect() as conn:
            state = get_state(conn, self.config.name, "window")
        start, end = self._window(today, state, since, until)
        lo, hi = _midnight(start), _midnight(end)
        # A bucket outside the window (an API rounding its start to the day before) belongs to
        # a day this run does not replace: leave it to the run whose window holds it.
        usage = [r for r in self.usage(api, lo, hi) if lo <= r["bucket_start"] < hi]
        costs = [
            r
            for r in (self.cost(api, lo, hi) if self.config.costs else [])
            if lo <= r["charge_period_start"] < hi
        ]
        day_slices = [self.slice_of(d) for d in days(start, end)]
        for row in usage:
            row["x_slice"] = self.slice_of(row["bucket_start"].date())
        cost_slices = [self.slice_of(r["charge_period_start"].date()) for r in costs]

        def remember(conn: Connection) -> None:
            # a backfill (--since/--until in the past) must not rewind where runs resume
            last = state.get("end") if state else None
            newest = max(end, date.fromisoformat(last)) if last else end
            put_state(conn, self.config.name, "window", {"end": newest.isoformat()})

        stats = load(
            engine,
            settings,
            self.config.name,
            [("llm_usage", table("llm_usage", usage)), ("cost", table("cost", costs))],
            before_commit=remember,
            replace_cost_slices=day_slices if self.config.costs else (),
            replace_usage_slices=day_slices,
            cost_slices=pa.array(cost_slices, pa.string()),
        )
        return CollectResult(
            slices=tuple(day_slices),
            rows=stats.rows["llm_usage"] + stats.rows["cost"],
            api_requests=api.requests,
            details={
                "window": [str(start), str(end)],
                "usage_rows": stats.rows["llm_usage"],
                "cost_rows": stats.rows["cost"],
            },
            window=(lo, hi),
        )

    def slice_of(self, day: date) -> str:
        return f"{self.config.name}:{day.isoformat()}"

    def _key(self) -> SecretStr:
        c = self.config
        if c.admin_key_file is not None:
            return file_secret(c.admin_key_file)
        key = env_secret(c.admin_key_env)
        if key is None:
            raise MissingSecret(
                f"source {c.name!r}: no admin key: set the environment variable "
                f"{c.admin_key_env} (or admin_key_file)"
            )
        return key

    def _window(
        self, today: date, state: dict[str, Any] | None, since: date | None, until: date | None
    ) -> tuple[date, date]:
        """[start, end) in UTC days: --since/--until, else the trailing days (from the last
        run's end when that is earlier), else the initial days."""
        end = until + timedelta(days=1) if until else today + timedelta(days=1)
        if since is not None:
            return since, max(end, since + timedelta(days=1))
        start = today - timedelta(days=self.config.trailing_days - 1)
        if state and state.get("end"):
            start = min(start, date.fromisoformat(state["end"]) - timedelta(days=1))
        else:
            start = today - timedelta(days=self.config.initial_days - 1)
        if until is not None:  # --until alone: the days before it, never an inverted window
            start = min(start, end - timedelta(days=self.config.trailing_days))
        return start, end

    @property
    def account(self) -> str:
        """``billing_account_id`` of this source's cost rows."""
        return self.config.organization or self.config.name


def cost_row(
    when: Bucket,
    end: datetime,
    amount: Decimal,
    currency: str,
    *,
    account: str,
    provider: str,
    service: str,
    description: str | None,
    model: str | None,
    project: str | None,
    usage_type: str | None,
    quantity: float | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """One FOCUS cost row: a day's charge of one line item (and project / workspace)."""
    start = when.start
    period = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    period_end = (period + timedelta(days=32)).replace(day=1)
    return {
        "billed_cost": amount,
        "effective_cost": amount,
        "billing_account_id": account,
        "billing_currency": currency,
        "billing_period_start": period,
        "billing_period_end": period_end,
        "charge_period_start": start,
        "charge_period_end": end,
        "charge_category": "Usage",
        "charge_description": description,
        "provider_name": provider,
        "publisher_name": provider,
        "invoice_issuer_name": provider,
        "service_name": service,
        "service_category": "AI and Machine Learning",
        "sub_account_id": project,
        "consumed_quantity": quantity,
        "consumed_unit": unit,
        "x_usage_type": usage_type,
        "x_workload": "inference",
        "x_model": model,
    }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def utc(ts: datetime) -> datetime:
    """A naive UTC datetime (the store's times)."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
