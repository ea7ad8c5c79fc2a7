"""AWS Cost and Usage Reports: CUR 2.0 (Data Exports) and the legacy CUR, mapped onto FOCUS.

CUR 2.0 names columns ``line_item_usage_type``; the legacy CUR names the same column
``lineItem/UsageType``.  AWS derives the first from the second mechanically (an underscore
before every capital), so one mapping serves both and only the renaming differs.

The part that matters for money is the effective (amortized) cost.  It follows the formula of
AWS's CUR query library: Savings Plan covered usage costs its Savings Plan effective cost, the
negation line that cancels its on-demand price costs nothing, a recurring commitment fee counts
only for its unused part (the used part is already in the covered usage), upfront fees count
nothing (they are amortized into usage), reserved usage costs the reservation's effective cost
and an RI fee counts its unused amortized upfront and recurring parts.  Every other line (usage,
tax, credits, refunds) costs what it was billed.  Summed over a month, billed and effective
totals therefore agree whenever all commitments are fully amortized within it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import COST_SCHEMA, conform
from collectors.formats.common import (
    MONEY,
    Where,
    blank_to_null,
    check_currency,
    first_present,
    json_rows,
    lookup,
    map_value,
    money_add,
    money_sub,
    require,
    to_float,
    to_json_object,
    to_money,
    to_str,
    to_timestamp,
)

# -- line item types → FOCUS charge category / frequency -----------------------------------------
_CATEGORY = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "BundledDiscount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "SppDiscount": "Credit",
    "DistributorDiscount": "Credit",
}
_FREQUENCY = {
    "Usage": "Usage-Based",
    "DiscountedUsage": "Usage-Based",
    "SavingsPlanCoveredUsage": "Usage-Based",
    "SavingsPlanNegation": "Usage-Based",
    "RIFee": "Recurring",
    "SavingsPlanRecurringFee": "Recurring",
    "Tax": "Recurring",
    "Fee": "One-Time",
    "SavingsPlanUpfrontFee": "One-Time",
}
_SAVINGS_PLAN_TYPES = frozenset(
    {
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
        "SavingsPlanUpfrontFee",
    }
)
_RESERVATION_TYPES = frozenset({"DiscountedUsage", "RIFee"})
_SERVICE_CATEGORY = {
    "AmazonSageMaker": "AI and Machine Learning",
    "AmazonBedrock": "AI and Machine Learning",
    "AmazonBedrockService": "AI and Machine Learning",
    "AmazonKendra": "AI and Machine Learning",
    "AmazonQ": "AI and Machine Learning",
    "AmazonEC2": "Compute",
    "AWSLambda": "Compute",
    "AmazonECS": "Compute",
    "AmazonEKS": "Compute",
    "ComputeSavingsPlans": "Compute",
    "AmazonS3": "Storage",
    "AmazonEFS": "Storage",
    "AmazonFSx": "Storage",
    "AmazonES": "Analytics",
    "AmazonRedshift": "Analytics",
    "AmazonAthena": "Analytics",
    "AmazonRDS": "Databases",
    "AmazonDynamoDB": "Databases",
    "AmazonVPC": "Networking",
    "AWSDataTransfer": "Networking",
    "AmazonCloudFront": "Networking",
    "AmazonCloudWatch": "Management and Governance",
    "awskms": "Security",
    "AmazonECR": "Developer Tools",
}

# Columns the mapping reads (CUR 2.0 names); everything else in an export is skipped unread.
_SCALARS = (
    "identity_line_item_id",
    "bill_bill_type",
    "bill_billing_entity",
    "bill_invoicing_entity",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_usage_type",
    "line_item_operation",
    "line_item_resource_id",
    "line_item_usage_amount",
    "line_item_currency_code",
    "line_item_unblended_cost",
    "line_item_unblended_rate",
    "line_item_line_item_description",
    "line_item_availability_zone",
    "line_item_legal_entity",
    "pricing_public_on_demand_cost",
    "pricing_public_on_demand_rate",
    "pricing_unit",
    "pricing_term",
    "pricing_purchase_option",
    "pricing_rate_id",
    "product_product_name",
    "product_servicecode",
    "product_region_code",
    "product_region",
    "product_location",
    "product_product_family",
    "product_instance_type",
    "product_sku",
    "savings_plan_savings_plan_a_r_n",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "reservation_reservation_a_r_n",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "split_line_item_parent_resource_id",
    "split_line_item_split_cost",
    "split_line_item_unused_cost",
    "split_line_item_net_split_cost",
    "split_line_item_net_unused_cost",
    "split_line_item_split_usage_ratio",
)
_MAPS = ("product", "resource_tags")
_NEEDED = frozenset(_SCALARS) | frozenset(_MAPS)
_REQUIRED = (
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "line_item_usage_start_date",
    "bill_billing_period_start_date",
    "bill_payer_account_id",
)
# Kept per row in x_raw: what rules and analysts ask of a CUR line that FOCUS has no column for.
_RAW = {
    "line_item_line_item_type": "line_item_type",
    "line_item_product_code": "product_code",
    "bill_bill_type": "bill_type",
    "pricing_term": "pricing_term",
    "pricing_purchase_option": "purchase_option",
    "product_product_family": "product_family",
    "product_instance_type": "instance_type",
    "line_item_legal_entity": "legal_entity",
    "split_line_item_net_split_cost": "net_split_cost",
    "split_line_item_net_unused_cost": "net_unused_cost",
    "split_line_item_split_usage_ratio": "split_usage_ratio",
}
SPLIT_METHOD = "AWS split cost allocation"
#: Where the text columns a value check may refuse come from (for naming them in messages).
_STORE_SOURCES = {
    "x_line_key": "identity_line_item_id",
    "billing_account_id": "bill_payer_account_id",
    "sub_account_id": "line_item_usage_account_id",
    "sub_account_name": "line_item_usage_account_name",
    "resource_id": "line_item_resource_id",
    "allocated_resource_id": "line_item_resource_id",
    "charge_description": "line_item_line_item_description",
    "x_usage_type": "line_item_usage_type",
    "x_operation": "line_item_operation",
    "tags": "resource_tags",
    "allocated_tags": "resource_tags",
}
_ZERO = pa.scalar(0, MONEY)


class _CurReader(FormatReader):
    """The FOCUS mapping, shared by both CUR generations; subclasses only rename columns."""

    target: ClassVar[Target] = "cost"

    @staticmethod
    def rename(raw: str) -> str:
        return raw

    @classmethod
    def is_tag_column(cls, raw: str) -> bool:
        return False

    @classmethod
    def tag_key(cls, raw: str) -> str:
        return raw

    @classmethod
    def columns_needed(cls, columns: frozenset[str]) -> list[str] | None:
        return sorted(c for c in columns if cls.rename(c) in _NEEDED or cls.is_tag_column(c))

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        names = {cls.rename(c) for c in columns}
        return {"line_item_unblended_cost", "line_item_line_item_type"} <= names

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        raw_of: dict[str, str] = {}
        tag_cols: dict[str, pa.Array] = {}
        for raw in batch.schema.names:
            if self.is_tag_column(raw):
                tag_cols[self.tag_key(raw)] = batch.column(raw)
            else:
                raw_of.setdefault(self.rename(raw), raw)
        for name in _REQUIRED:
            if name not in raw_of:
                raise where.error(None, self.display(name), "required CUR column is missing")
        n = batch.num_rows

        def col(name: str) -> pa.Array | None:
            return batch.column(raw_of[name]) if name in raw_of else None

        def text(name: str) -> pa.Array | None:
            arr = col(name)
            return None if arr is None else to_str(arr)

        def money(name: str) -> pa.Array | None:
            arr = col(name)
            return None if arr is None else to_money(arr, where, raw_of[name])

        def when(name: str) -> pa.Array | None:
            arr = col(name)
            return None if arr is None else to_timestamp(arr, where, raw_of[name])

        def required(name: str, convert: Callable[[str], pa.Array | None]) -> pa.Array:
            arr = convert(name)
            assert arr is not None
            return require(arr, where, raw_of[name])

        line_type = required("line_item_line_item_type", text)
        unblended = required("line_item_unblended_cost", money)
        out: dict[str, pa.Array | None] = {
            "x_line_key": text("identity_line_item_id"),
            "provider_name": pa.array(["AWS"] * n, pa.string()),
            "publisher_name": text("bill_billing_entity"),
            "invoice_issuer_name": text("bill_invoicing_entity"),
            "billing_account_id": required("bill_payer_account_id", text),
            "billing_account_name": text("bill_payer_account_name"),
            "sub_account_id": text("line_item_usage_account_id"),
            "sub_account_name": text("line_item_usage_account_name"),
            "billing_period_start": required("bill_billing_period_start_date", when),
            "billing_period_end": when("bill_billing_period_end_date"),
            "charge_period_start": required("line_item_usage_start_date", when),
            "charge_period_end": when("line_item_usage_end_date"),
            "charge_category": lookup(line_type, _CATEGORY),
            "charge_class": pc.if_else(
                pc.equal(line_type, "Refund"), "Correction", pa.scalar(None, pa.string())
            ),
            "charge_description": text("line_item_line_item_description"),
            "charge_frequency": lookup(line_type, _FREQUENCY),
            "billed_cost": unblended,
            "effective_cost": self._effective(
                line_type, unblended, money, text("reservation_reservation_a_r_n"), where, raw_of
            ),
            "list_cost": money("pricing_public_on_demand_cost"),
            "contracted_cost": unblended,
            "list_unit_price": money("pricing_public_on_demand_rate"),
            "contracted_unit_price": money("line_item_unblended_rate"),
            "billing_currency": check_currency(
                required("line_item_currency_code", text), where, raw_of["line_item_currency_code"]
            ),
            "service_name": self._service_name(batch, raw_of, text),
            "service_category": self._service_category(text("line_item_product_code"), n),
            "sku_id": text("product_sku"),
            "sku_price_id": text("pricing_rate_id"),
            "region_id": first_present(text("product_region_code"), text("product_region")),
            "region_name": text("product_location"),
            "availability_zone": text("line_item_availability_zone"),
            "resource_id": blank_to_null(text("line_item_resource_id")),
            "pricing_quantity": _float(col("line_item_usage_amount"), where, raw_of),
            "pricing_unit": text("pricing_unit"),
            "consumed_unit": text("pricing_unit"),
            "pricing_category": _pricing_category(
                line_type, text("pricing_term"), text("line_item_usage_type")
            ),
            "x_usage_type": text("line_item_usage_type"),
            "x_operation": text("line_item_operation"),
        }
        out["consumed_quantity"] = pc.if_else(
            pc.equal(out["charge_category"], "Usage"),
            out["pricing_quantity"] if out["pricing_quantity"] is not None else pa.nulls(n),
            pa.scalar(None, pa.float64()),
        )
        out.update(self._commitment(line_type, text))
        out["tags"] = self._tags(batch, raw_of, tag_cols, where)
        out.update(_split(out, text("split_line_item_parent_resource_id"), money))
        raw_extras = {key: text(name) for name, key in _RAW.items() if name in raw_of}
        present = {k: v for k, v in raw_extras.items() if v is not None}
        out["x_raw"] = json_rows(present) if present else None
        return conform({k: v for k, v in out.items() if v is not None}, COST_SCHEMA, n)

    def display(self, name: str) -> str:
        """The column name as this file spells it, for error messages."""
        return name

    @classmethod
    def file_column(cls, store_column: str, columns: Sequence[str]) -> str:
        cur = _STORE_SOURCES.get(store_column)
        if cur is None:
            return store_column
        return next((c for c in columns if cls.rename(c) == cur), cur)

    # -- pieces ----------------------------------------------------------------------------------
    @staticmethod
    def _effective(
        line_type: pa.Array,
        unblended: pa.Array,
        money: Callable[[str], pa.Array | None],
        ri_arn: pa.Array | None,
        where: Where,
        raw_of: Mapping[str, str],
    ) -> pa.Array:
        def part(name: str) -> pa.Array:
            arr = money(name)
            return pc.fill_null(arr, _ZERO) if arr is not None else pa.nulls(len(line_type), MONEY)

        def needed(kind: str, name: str) -> pa.Array:
            """The column a line type's effective cost is, which those lines must carry."""
            arr = money(name)
            rows = pc.equal(line_type, kind)
            if arr is None:
                if pc.any(rows).as_py():
                    raise where.error(
                        pc.index(rows, True).as_py(), name, f"required for {kind} lines"
                    )
                return pa.nulls(len(line_type), MONEY)
            missing = pc.and_(rows, arr.is_null())
            if pc.any(missing).as_py():
                raise where.error(
                    pc.index(missing, True).as_py(),
                    raw_of.get(name, name),
                    f"value is required for {kind} lines",
                )
            return arr

        sp_unused = money_sub(
            part("savings_plan_total_commitment_to_date"), part("savings_plan_used_commitment")
        )
        ri_unused = money_add(
            part("reservation_unused_amortized_upfront_fee_for_billing_period"),
            part("reservation_unused_recurring_fee"),
        )
        cases = [
            (
                "SavingsPlanCoveredUsage",
                needed("SavingsPlanCoveredUsage", "savings_plan_savings_plan_effective_cost"),
            ),
            ("SavingsPlanNegation", pa.array([0] * len(line_type), MONEY)),
            ("SavingsPlanUpfrontFee", pa.array([0] * len(line_type), MONEY)),
            ("SavingsPlanRecurringFee", sp_unused),
            ("DiscountedUsage", needed("DiscountedUsage", "reservation_effective_cost")),
            ("RIFee", ri_unused),
        ]
        effective = unblended
        for kind, value in cases:
            effective = pc.if_else(pc.equal(line_type, kind), value, effective)
        if ri_arn is not None:  # an RI's upfront payment: amortized into its DiscountedUsage
            upfront = pc.and_(
                pc.equal(line_type, "Fee"), pc.fill_null(pc.not_equal(ri_arn, ""), False)
            )
            effective = pc.if_else(upfront, _ZERO, effective)
        return effective

    @staticmethod
    def _service_name(
        batch: pa.RecordBatch,
        raw_of: Mapping[str, str],
        text: Callable[[str], pa.Array | None],
    ) -> pa.Array | None:
        from_map = (
            map_value(batch.column(raw_of["product"]), "product_name")
            if "product" in raw_of
            else None
        )
        return first_present(
            from_map,
            text("product_product_name"),
            text("product_servicecode"),
            text("line_item_product_code"),
        )

    @staticmethod
    def _service_category(product_code: pa.Array | None, n: int) -> pa.Array:
        if product_code is None:
            return pa.nulls(n, pa.string())
        return pc.fill_null(lookup(product_code, _SERVICE_CATEGORY), "Other")

    @staticmethod
    def _commitment(
        line_type: pa.Array, text: Callable[[str], pa.Array | None]
    ) -> dict[str, pa.Array | None]:
        n = len(line_type)
        is_sp = pc.is_in(line_type, pa.array(sorted(_SAVINGS_PLAN_TYPES)))
        is_ri = pc.is_in(line_type, pa.array(sorted(_RESERVATION_TYPES)))
        none = pa.scalar(None, pa.string())
        sp_arn = text("savings_plan_savings_plan_a_r_n")
        ri_arn = text("reservation_reservation_a_r_n")
        ident = pc.if_else(
            is_sp,
            sp_arn if sp_arn is not None else pa.nulls(n, pa.string()),
            pc.if_else(is_ri, ri_arn if ri_arn is not None else pa.nulls(n, pa.string()), none),
        )
        used = pc.is_in(line_type, pa.array(["SavingsPlanCoveredUsage", "DiscountedUsage"]))
        return {
            "commitment_discount_id": blank_to_null(ident),
            "commitment_discount_category": pc.if_else(
                is_sp, "Spend", pc.if_else(is_ri, "Usage", none)
            ),
            "commitment_discount_type": pc.if_else(
                is_sp, "Savings Plan", pc.if_else(is_ri, "Reserved Instance", none)
            ),
            "commitment_discount_status": pc.if_else(used, "Used", none),
        }

    def _tags(
        self,
        batch: pa.RecordBatch,
        raw_of: Mapping[str, str],
        tag_cols: Mapping[str, pa.Array],
        where: Where,
    ) -> pa.Array | None:
        if "resource_tags" in raw_of:
            raw = raw_of["resource_tags"]
            return to_json_object(batch.column(raw), where, raw)
        if tag_cols:
            return json_rows({k: to_str(v) for k, v in tag_cols.items()})
        return None


def _split(
    out: Mapping[str, pa.Array | None],
    parent: pa.Array | None,
    money: Callable[[str], pa.Array | None],
) -> dict[str, pa.Array | None]:
    """CUR 2.0 split cost allocation (EKS pods, ECS tasks) onto FOCUS 1.3's allocation columns.

    A split row names the pod or task in ``line_item_resource_id`` and the node (EC2 instance)
    in ``split_line_item_parent_resource_id``; AWS bills it 0 (the node's own line carries the
    cost) and gives its share in ``split_line_item_split_cost`` / ``…_unused_cost``.  As FOCUS
    1.3 has it, the row's resource is the node and the allocated resource the pod (with its
    labels as allocated tags); the share goes to ``x_allocated_cost`` / ``…_unused_cost``, and
    billed and effective cost stay as billed, so no total counts a node twice.
    """
    parent = blank_to_null(parent)
    if parent is None or parent.null_count == len(parent):
        return {}
    none = pa.scalar(None, pa.string())
    is_split = parent.is_valid()
    own = out["resource_id"] if out["resource_id"] is not None else pa.nulls(len(parent))
    tags = out["tags"] if out["tags"] is not None else pa.nulls(len(parent), pa.string())
    return {
        "resource_id": pc.coalesce(parent, own),
        "allocated_resource_id": pc.if_else(is_split, own, none),
        "allocated_resource_name": pc.if_else(is_split, _workload_name(own), none),
        "allocated_tags": pc.if_else(is_split, tags, none),
        "allocated_method_id": pc.if_else(is_split, SPLIT_METHOD, none),
        "x_allocated_cost": money("split_line_item_split_cost"),
        "x_allocated_unused_cost": money("split_line_item_unused_cost"),
    }


def _workload_name(arn: pa.Array) -> pa.Array:
    """A pod's or task's name from its ARN: ``…:pod/<cluster>/<namespace>/<name>/<uid>`` →
    ``name``; ``…:task/<cluster>/<id>`` → ``id``."""
    pod = pc.extract_regex(arn, r":pod/[^/]+/[^/]+/(?P<n>[^/]+)/[^/]+$")
    last = pc.extract_regex(arn, r"/(?P<n>[^/]+)$")
    return pc.coalesce(pc.struct_field(pod, "n"), pc.struct_field(last, "n"), arn)


def _float(arr: pa.Array | None, where: Where, raw_of: Mapping[str, str]) -> pa.Array | None:
    if arr is None:
        return None
    return to_float(arr, where, raw_of["line_item_usage_amount"])


def _pricing_category(
    line_type: pa.Array, term: pa.Array | None, usage_type: pa.Array | None
) -> pa.Array:
    """FOCUS 1.1 names: Committed for commitment-covered usage, Dynamic for Spot, else Standard."""
    none = pa.scalar(None, pa.string())
    committed = pc.is_in(line_type, pa.array(["SavingsPlanCoveredUsage", "DiscountedUsage"]))
    spot = pa.array([False] * len(line_type))
    if term is not None:
        spot = pc.or_(spot, pc.fill_null(pc.equal(term, "Spot"), False))
    if usage_type is not None:
        spot = pc.or_(spot, pc.fill_null(pc.match_substring(usage_type, "Spot"), False))
    usage = pc.equal(line_type, "Usage")
    return pc.if_else(
        committed, "Committed", pc.if_else(spot, "Dynamic", pc.if_else(usage, "Standard", none))
    )


class LegacyCurParquetReader(_CurReader):
    """The legacy CUR as AWS writes it for Athena (Parquet): CUR 2.0's snake_case names, but
    flat ``product_*`` columns and one ``resource_tags_user_team`` column per tag instead of
    the ``product`` and ``resource_tags`` maps.  Read as CUR 2.0 it would lose every tag (and
    with them the ``workload`` override)."""

    name: ClassVar[str] = "aws_cur_legacy_parquet"
    label: ClassVar[str] = "AWS CUR (legacy, Parquet)"
    default_source: ClassVar[str | None] = "aws_cur_legacy"

    @classmethod
    def is_tag_column(cls, raw: str) -> bool:
        return raw.startswith(_TAG_PREFIX)

    @classmethod
    def tag_key(cls, raw: str) -> str:
        """``resource_tags_user_workload`` → ``user_workload``, the key CUR 2.0 uses."""
        return raw[len(_TAG_PREFIX) :]

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        snake_cur = {"line_item_unblended_cost", "line_item_line_item_type"} <= columns
        has_maps = bool({"resource_tags", "product"} & columns)
        return (
            snake_cur
            and not has_maps
            and (
                any(c.startswith(_TAG_PREFIX) for c in columns) or "product_product_name" in columns
            )
        )


_TAG_PREFIX = "resource_tags_"


class Cur2Reader(_CurReader):
    """CUR 2.0 from Data Exports: snake_case columns, ``product`` and ``resource_tags`` maps."""

    name: ClassVar[str] = "aws_cur2"
    label: ClassVar[str] = "AWS CUR 2.0"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return {
            "line_item_unblended_cost",
            "line_item_line_item_type",
            "bill_payer_account_id",
        } <= columns


_LEGACY = re.compile(r"^([A-Za-z]+)/(.+)$")
_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


class LegacyCurReader(_CurReader):
    """The legacy CUR (``lineItem/UsageType`` headers, ``resourceTags/user:team`` columns)."""

    name: ClassVar[str] = "aws_cur_legacy"
    label: ClassVar[str] = "AWS CUR (legacy)"

    @staticmethod
    def rename(raw: str) -> str:
        """``lineItem/UsageType`` → ``line_item_usage_type``, AWS's own CUR 2.0 rule."""
        m = _LEGACY.match(raw)
        if not m:
            return raw
        group, field = m.groups()
        return f"{_snake(group)}_{_snake(field)}"

    @classmethod
    def is_tag_column(cls, raw: str) -> bool:
        return raw.startswith("resourceTags/")

    @classmethod
    def tag_key(cls, raw: str) -> str:
        """``resourceTags/user:workload`` → ``user_workload``, the key CUR 2.0 uses."""
        return raw.split("/", 1)[1].replace(":", "_", 1)

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return {"lineItem/UnblendedCost", "lineItem/LineItemType"} <= columns

    def display(self, name: str) -> str:
        return _LEGACY_NAMES.get(name, name)


_LEGACY_NAMES = {
    "line_item_line_item_type": "lineItem/LineItemType",
    "line_item_unblended_cost": "lineItem/UnblendedCost",
    "line_item_currency_code": "lineItem/CurrencyCode",
    "line_item_usage_start_date": "lineItem/UsageStartDate",
    "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
    "bill_payer_account_id": "bill/PayerAccountId",
}


def _snake(name: str) -> str:
    return _CAPITAL.sub("_", name).lower()
