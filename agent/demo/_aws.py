"""A synthetic AWS CUR 2.0 month (Data Exports, Parquet), hourly per resource and usage type.

Column names and types follow the CUR 2.0 table dictionary of AWS Data Exports: snake_case,
``product``, ``resource_tags``, ``cost_category`` and ``discount`` as maps, money as ``double``,
rates as ``string``, billing and usage dates as timestamps.  Savings Plan accounting follows the
CUR model: covered usage keeps its on-demand ``line_item_unblended_cost`` and carries the
discounted ``savings_plan_savings_plan_effective_cost``; a ``SavingsPlanNegation`` row cancels the
on-demand cost; the hourly ``SavingsPlanRecurringFee`` bills the commitment, and its unused part is
``savings_plan_total_commitment_to_date - savings_plan_used_commitment``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from agent.demo._common import (
    Ledger,
    Month,
    business,
    growth,
    hex_id,
    iso_z,
    money,
    rng,
    stable_id,
    utc,
)
from agent.demo._scenario import (
    AWS_ACCOUNT_NAMES,
    AWS_DEV,
    AWS_GPU_INSTANCE,
    AWS_PAYER,
    AWS_PROD,
    AWS_REGION,
    SAGEMAKER_ENDPOINTS,
    SAGEMAKER_TRAIN_RATES,
    sagemaker_timeline,
    sagemaker_training_jobs,
)

PROVIDER = "AWS"
LOCATION = "US East (N. Virginia)"
TAX_RATE = 0.06
SERVICES = {
    "AmazonSageMaker": "Amazon SageMaker",
    "AmazonBedrock": "Amazon Bedrock",
    "AmazonES": "Amazon OpenSearch Service",
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonS3": "Amazon Simple Storage Service",
    "AmazonCloudWatch": "AmazonCloudWatch",
    "awskms": "AWS Key Management Service",
    "AmazonECR": "Amazon EC2 Container Registry (ECR)",
    "ComputeSavingsPlans": "Savings Plans for AWS Compute usage",
}

_STR = pa.string()
_F64 = pa.float64()
_TS = pa.timestamp("ms", tz="UTC")
_MAP_S = pa.map_(pa.string(), pa.string())
_MAP_F = pa.map_(pa.string(), pa.float64())

_COLUMNS: dict[str, pa.DataType] = {
    "bill_bill_type": _STR,
    "bill_billing_entity": _STR,
    "bill_billing_period_end_date": _TS,
    "bill_billing_period_start_date": _TS,
    "bill_invoice_id": _STR,
    "bill_invoicing_entity": _STR,
    "bill_payer_account_id": _STR,
    "bill_payer_account_name": _STR,
    "cost_category": _MAP_S,
    "discount": _MAP_F,
    "discount_bundled_discount": _F64,
    "discount_total_discount": _F64,
    "identity_line_item_id": _STR,
    "identity_time_interval": _STR,
    "line_item_availability_zone": _STR,
    "line_item_blended_cost": _F64,
    "line_item_blended_rate": _STR,
    "line_item_currency_code": _STR,
    "line_item_legal_entity": _STR,
    "line_item_line_item_description": _STR,
    "line_item_line_item_type": _STR,
    "line_item_normalization_factor": _F64,
    "line_item_normalized_usage_amount": _F64,
    "line_item_operation": _STR,
    "line_item_product_code": _STR,
    "line_item_resource_id": _STR,
    "line_item_tax_type": _STR,
    "line_item_unblended_cost": _F64,
    "line_item_unblended_rate": _STR,
    "line_item_usage_account_id": _STR,
    "line_item_usage_account_name": _STR,
    "line_item_usage_amount": _F64,
    "line_item_usage_end_date": _TS,
    "line_item_usage_start_date": _TS,
    "line_item_usage_type": _STR,
    "pricing_currency": _STR,
    "pricing_lease_contract_length": _STR,
    "pricing_offering_class": _STR,
    "pricing_public_on_demand_cost": _F64,
    "pricing_public_on_demand_rate": _STR,
    "pricing_purchase_option": _STR,
    "pricing_rate_code": _STR,
    "pricing_rate_id": _STR,
    "pricing_term": _STR,
    "pricing_unit": _STR,
    "product": _MAP_S,
    "product_comment": _STR,
    "product_fee_code": _STR,
    "product_fee_description": _STR,
    "product_from_location": _STR,
    "product_from_location_type": _STR,
    "product_from_region_code": _STR,
    "product_instance_family": _STR,
    "product_instance_type": _STR,
    "product_instanceSKU": _STR,
    "product_location": _STR,
    "product_location_type": _STR,
    "product_operation": _STR,
    "product_pricing_unit": _STR,
    "product_product_family": _STR,
    "product_region_code": _STR,
    "product_servicecode": _STR,
    "product_sku": _STR,
    "product_to_location": _STR,
    "product_to_location_type": _STR,
    "product_to_region_code": _STR,
    "product_usagetype": _STR,
    "reservation_amortized_upfront_cost_for_usage": _F64,
    "reservation_amortized_upfront_fee_for_billing_period": _F64,
    "reservation_availability_zone": _STR,
    "reservation_effective_cost": _F64,
    "reservation_end_time": _STR,
    "reservation_modification_status": _STR,
    "reservation_normalized_units_per_reservation": _STR,
    "reservation_number_of_reservations": _STR,
    "reservation_recurring_fee_for_usage": _F64,
    "reservation_reservation_a_r_n": _STR,
    "reservation_start_time": _STR,
    "reservation_subscription_id": _STR,
    "reservation_total_reserved_normalized_units": _STR,
    "reservation_total_reserved_units": _STR,
    "reservation_units_per_reservation": _STR,
    "reservation_unused_amortized_upfront_fee_for_billing_period": _F64,
    "reservation_unused_normalized_unit_quantity": _F64,
    "reservation_unused_quantity": _F64,
    "reservation_unused_recurring_fee": _F64,
    "reservation_upfront_value": _F64,
    "resource_tags": _MAP_S,
    "savings_plan_amortized_upfront_commitment_for_billing_period": _F64,
    "savings_plan_end_time": _STR,
    "savings_plan_instance_type_family": _STR,
    "savings_plan_offering_type": _STR,
    "savings_plan_payment_option": _STR,
    "savings_plan_purchase_term": _STR,
    "savings_plan_recurring_commitment_for_billing_period": _F64,
    "savings_plan_region": _STR,
    "savings_plan_savings_plan_a_r_n": _STR,
    "savings_plan_savings_plan_effective_cost": _F64,
    "savings_plan_savings_plan_rate": _F64,
    "savings_plan_start_time": _STR,
    "savings_plan_total_commitment_to_date": _F64,
    "savings_plan_used_commitment": _F64,
}
# The ``*_net_*`` columns are "included only when the account has a discount"; this account has
# none, so they are left out of the export, as AWS does.
CUR_SCHEMA = pa.schema([(name, _COLUMNS[name]) for name in sorted(_COLUMNS)])

# Compute Savings Plan: 1 year, no upfront; covers the GPU inference box and the API server.
SP_COMMITMENT = 4.25  # USD per hour
SP_DISCOUNT = 0.71  # SP rate = 71 % of on-demand for these families (1yr, no upfront)


def _rate(value: float) -> str:
    return f"{value:.10f}"


class CurBuilder:
    """Collects CUR rows and the intended totals per workload."""

    def __init__(self, month: Month, seed: int, ledger: Ledger) -> None:
        self.month = month
        self.seed = seed
        self.ledger = ledger
        self.rows: list[dict[str, Any]] = []
        u = hex_id("savings-plan", seed, length=32)
        self.sp_arn = (
            f"arn:aws:savingsplans::{AWS_PAYER}:savingsplan/"
            f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}"
        )
        self.invoice_id = str(int(stable_id("invoice", month.label, seed, length=12), 36))[:10]

    # -- one row ---------------------------------------------------------------------------------
    def _row(
        self,
        *,
        start: datetime,
        end: datetime,
        account: str,
        code: str,
        item_type: str,
        usage_type: str | None,
        operation: str | None,
        amount: float,
        unblended: float,
        rate: float | None,
        unit: str | None,
        description: str,
        family: str | None,
        resource: str | None,
        tags: Mapping[str, str] | None,
        az: str | None = None,
        term: str | None = "OnDemand",
        od_cost: float | None = None,
        od_rate: float | None = None,
        instance_type: str | None = None,
        product_extra: Mapping[str, str] | None = None,
        region: str | None = AWS_REGION,
    ) -> dict[str, Any]:
        service = SERVICES[code]
        product = {"product_name": service, "servicename": service}
        if region:
            product["region"] = region
        product.update(product_extra or {})
        sku = stable_id("sku", code, usage_type, operation, length=16).upper()
        row: dict[str, Any] = dict.fromkeys(CUR_SCHEMA.names)
        row.update(
            bill_bill_type="Anniversary",
            bill_billing_entity="AWS",
            bill_billing_period_start_date=utc(self.month.start),
            bill_billing_period_end_date=utc(self.month.end),
            bill_invoice_id=self.invoice_id,
            bill_invoicing_entity="Amazon Web Services, Inc.",
            bill_payer_account_id=AWS_PAYER,
            bill_payer_account_name="synthetic-payer",
            cost_category=[],
            discount=[],
            # As in a real CUR the id names the line item, not the hour: it repeats across
            # hours, and (identity_line_item_id, identity_time_interval) identifies a row.
            identity_line_item_id=stable_id(
                self.seed, account, code, item_type, usage_type, operation, resource
            ),
            identity_time_interval=f"{iso_z(start)}/{iso_z(end)}",
            line_item_availability_zone=az,
            line_item_blended_cost=money(unblended),
            line_item_blended_rate=None if rate is None else _rate(rate),
            line_item_currency_code="USD",
            line_item_legal_entity="Amazon Web Services, Inc.",
            line_item_line_item_description=description,
            line_item_line_item_type=item_type,
            line_item_operation=operation,
            line_item_product_code=code,
            line_item_resource_id=resource,
            line_item_unblended_cost=money(unblended),
            line_item_unblended_rate=None if rate is None else _rate(rate),
            line_item_usage_account_id=account,
            line_item_usage_account_name=AWS_ACCOUNT_NAMES[account],
            line_item_usage_amount=round(amount, 10),
            line_item_usage_start_date=utc(start),
            line_item_usage_end_date=utc(end),
            line_item_usage_type=usage_type,
            pricing_currency="USD",
            pricing_public_on_demand_cost=None if od_cost is None else money(od_cost),
            pricing_public_on_demand_rate=None if od_rate is None else _rate(od_rate),
            pricing_rate_code=None if od_rate is None else f"{sku}.JRTCKXETXF.6YS6EN2CT7",
            pricing_term=term,
            pricing_unit=unit,
            product=sorted(product.items()),
            product_instance_family=instance_type.removeprefix("ml.").split(".")[0]
            if instance_type
            else None,
            product_instance_type=instance_type,
            product_location=LOCATION if region else None,
            product_location_type="AWS Region" if region else None,
            product_operation=operation,
            product_pricing_unit=unit,
            product_product_family=family,
            product_region_code=region,
            product_servicecode=code,
            product_sku=sku if usage_type else None,
            product_usagetype=usage_type,
            resource_tags=sorted((tags or {}).items()),
        )
        self.rows.append(row)
        return row

    def usage(
        self,
        *,
        start: datetime,
        account: str,
        code: str,
        usage_type: str,
        operation: str,
        amount: float,
        rate: float,
        unit: str,
        description: str,
        workload: str,
        family: str | None = None,
        resource: str | None = None,
        tags: Mapping[str, str] | None = None,
        hours: float = 1.0,
        od_rate: float | None = None,
        term: str = "OnDemand",
        instance_type: str | None = None,
        az: str | None = None,
        product_extra: Mapping[str, str] | None = None,
    ) -> None:
        if amount <= 0:
            return
        cost = amount * rate
        od = od_rate if od_rate is not None else rate
        self._row(
            start=start,
            end=start + timedelta(hours=hours),
            account=account,
            code=code,
            item_type="Usage",
            usage_type=usage_type,
            operation=operation,
            amount=amount,
            unblended=cost,
            rate=rate,
            unit=unit,
            description=description,
            family=family,
            resource=resource,
            tags=tags,
            az=az,
            term=term,
            od_cost=amount * od,
            od_rate=od,
            instance_type=instance_type,
            product_extra=product_extra,
        )
        self.ledger.add(PROVIDER, workload, money(cost), money(cost), start)

    def sp_covered(
        self,
        *,
        start: datetime,
        account: str,
        instance_type: str,
        amount: float,
        od_rate: float,
        resource: str,
        tags: Mapping[str, str],
        workload: str,
        az: str,
    ) -> float:
        """A covered hour plus its negation; returns the Savings Plan cost used."""
        usage_type = f"BoxUsage:{instance_type}"
        sp_rate = round(od_rate * SP_DISCOUNT, 6)
        od_cost = amount * od_rate
        sp_cost = money(amount * sp_rate)
        common: dict[str, Any] = dict(
            start=start,
            end=start + timedelta(hours=1),
            account=account,
            code="AmazonEC2",
            usage_type=usage_type,
            operation="RunInstances",
            amount=amount,
            unit="Hrs",
            family="Compute Instance",
            resource=resource,
            tags=tags,
            az=az,
            instance_type=instance_type,
            product_extra={"operating_system": "Linux", "tenancy": "Shared"},
        )
        covered = self._row(
            item_type="SavingsPlanCoveredUsage",
            unblended=od_cost,
            rate=od_rate,
            description=f"${od_rate:g} per On Demand Linux {instance_type} Instance Hour",
            od_cost=od_cost,
            od_rate=od_rate,
            **common,
        )
        covered.update(
            savings_plan_savings_plan_a_r_n=self.sp_arn,
            savings_plan_savings_plan_rate=sp_rate,
            savings_plan_savings_plan_effective_cost=sp_cost,
            savings_plan_instance_type_family=instance_type.split(".")[0],
            savings_plan_start_time=iso_z(self.month.months_before(5)),
            savings_plan_end_time=iso_z(self.month.months_before(5) + timedelta(days=365)),
        )
        negation = self._row(
            item_type="SavingsPlanNegation",
            unblended=-od_cost,
            rate=od_rate,
            description=f"SavingsPlanNegation used by AccountId : {account} and UsageSku : "
            f"{covered['product_sku']}",
            **common,
        )
        negation.update(savings_plan_savings_plan_a_r_n=self.sp_arn)
        self.ledger.add(PROVIDER, workload, money(od_cost), sp_cost, start)
        self.ledger.add(PROVIDER, workload, money(-od_cost), 0.0, start)
        return sp_cost

    def sp_fee(self, start: datetime, used: float) -> None:
        unused = SP_COMMITMENT - used
        row = self._row(
            start=start,
            end=start + timedelta(hours=1),
            account=AWS_PAYER,
            code="ComputeSavingsPlans",
            item_type="SavingsPlanRecurringFee",
            usage_type="ComputeSP:1yrNoUpfront",
            operation=None,
            amount=1.0,
            unblended=SP_COMMITMENT,
            rate=SP_COMMITMENT,
            unit="Hrs",
            description="1 year No Upfront Compute Savings Plan",
            family="Savings Plans",
            resource=self.sp_arn,
            tags=None,
            term=None,
            region=None,
        )
        row.update(
            savings_plan_savings_plan_a_r_n=self.sp_arn,
            savings_plan_offering_type="ComputeSavingsPlans",
            savings_plan_payment_option="No Upfront",
            savings_plan_purchase_term="1yr",
            savings_plan_region="Any",
            savings_plan_start_time=iso_z(self.month.months_before(5)),
            savings_plan_end_time=iso_z(self.month.months_before(5) + timedelta(days=365)),
            savings_plan_amortized_upfront_commitment_for_billing_period=0.0,
            savings_plan_recurring_commitment_for_billing_period=SP_COMMITMENT,
            savings_plan_total_commitment_to_date=SP_COMMITMENT,
            savings_plan_used_commitment=money(used),
        )
        self.ledger.add(PROVIDER, "other", SP_COMMITMENT, money(unused), start)

    def month_row(
        self,
        *,
        account: str,
        code: str,
        item_type: str,
        amount: float,
        description: str,
        workload: str,
    ) -> None:
        """A Tax or Credit row covering the whole billing period."""
        self._row(
            start=self.month.start,
            end=self.month.end,
            account=account,
            code=code,
            item_type=item_type,
            usage_type=None,
            operation=None,
            amount=0.0,
            unblended=amount,
            rate=None,
            unit=None,
            description=description,
            family=None,
            resource=None,
            tags=None,
            term=None,
            region=None,
        )
        self.ledger.add(PROVIDER, workload, money(amount), money(amount), self.month.start)


# --- the month ----------------------------------------------------------------------------------
def build(month: Month, seed: int, ledger: Ledger) -> pa.Table:
    b = CurBuilder(month, seed, ledger)
    _sagemaker(b, month, seed)
    _bedrock(b, month, seed)
    _opensearch(b, month, seed)
    _ec2(b, month, seed)
    _s3(b, month, seed)
    _cloudwatch_kms_ecr(b, month, seed)
    _tax_and_credit(b)
    b.rows.sort(
        key=lambda r: (
            r["line_item_usage_start_date"],
            r["line_item_product_code"],
            r["line_item_usage_type"] or "",
            r["line_item_resource_id"] or "",
            r["line_item_line_item_type"],
        )
    )
    ledger.rows["aws-cur"] = len(b.rows)
    return pa.Table.from_pylist(b.rows, schema=CUR_SCHEMA)


def _sagemaker(b: CurBuilder, month: Month, seed: int) -> None:
    for ep in SAGEMAKER_ENDPOINTS:
        family = ep.instance_type
        for h in sagemaker_timeline(ep, month, seed):
            b.usage(
                start=h.ts,
                account=ep.account,
                code="AmazonSageMaker",
                usage_type=f"USE1-Hosting:{family}",
                operation="RunInstance",
                amount=h.instances,
                rate=ep.hourly_rate,
                unit="Hrs",
                description=f"${ep.hourly_rate:g} per Hosting {family} hour in {LOCATION}",
                workload="inference",
                family="ML Instance",
                resource=ep.arn,
                tags=ep.tags,
                instance_type=family,
                product_extra={"component": "Hosting"},
            )
    for job in sagemaker_training_jobs(month, seed):
        rate = SAGEMAKER_TRAIN_RATES[job.instance_type]
        suffix = "-Spot" if job.spot else ""
        tags = {"user_workload": "training", "user_env": "prod", "user_team": "research"}
        for hour, frac in job.hourly():
            billable = job.instance_count * frac * job.billable_ratio
            b.usage(
                start=hour,
                account=AWS_PROD,
                code="AmazonSageMaker",
                usage_type=f"USE1-Train:{job.instance_type}{suffix}",
                operation="RunInstance",
                amount=billable,
                rate=rate,
                unit="Hrs",
                description=f"${rate:g} per Train {job.instance_type}{suffix} "
                f"{'billable ' if job.spot else ''}hour in {LOCATION}",
                workload="training",
                family="ML Instance",
                resource=job.arn,
                tags=tags,
                term="Spot" if job.spot else "OnDemand",
                instance_type=job.instance_type,
                product_extra={"component": "Training"},
            )
    notebook = f"arn:aws:sagemaker:{AWS_REGION}:{AWS_DEV}:notebook-instance/research-nb-gpu"
    for ts in month.hours:
        b.usage(
            start=ts,
            account=AWS_DEV,
            code="AmazonSageMaker",
            usage_type="USE1-Notebk:ml.g4dn.xlarge",
            operation="RunInstance",
            amount=1.0,
            rate=0.7364,
            unit="Hrs",
            description=f"$0.7364 per Notebk ml.g4dn.xlarge hour in {LOCATION}",
            workload="training",
            family="ML Instance",
            resource=notebook,
            tags={"user_workload": "training", "user_env": "dev", "user_team": "research"},
            instance_type="ml.g4dn.xlarge",
            product_extra={"component": "Notebook"},
        )


# (usage type suffix, description, USD per 1K tokens, peak K tokens per hour, weekly growth)
_BEDROCK = (
    ("Claude3.5Sonnet-input-tokens", "Claude 3.5 Sonnet input tokens", 0.003, 2000.0, 1.08),
    ("Claude3.5Sonnet-output-tokens", "Claude 3.5 Sonnet output tokens", 0.015, 260.0, 1.08),
    ("Claude3Haiku-input-tokens", "Claude 3 Haiku input tokens", 0.00025, 4500.0, 1.05),
    ("Claude3Haiku-output-tokens", "Claude 3 Haiku output tokens", 0.00125, 320.0, 1.05),
    (
        "TitanEmbedTextV2-input-tokens",
        "Titan Text Embeddings V2 input tokens",
        0.00002,
        3000.0,
        1.03,
    ),
)


def _bedrock(b: CurBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "bedrock")
    for ts in month.hours:
        for suffix, label, rate, peak, weekly in _BEDROCK:
            amount = peak * business(ts) * growth(ts, month, weekly) * r.uniform(0.85, 1.15)
            if suffix.startswith("Titan") and 2 <= (ts.hour - 4) % 24 < 4:
                amount += 45000.0 * r.uniform(0.9, 1.1)  # nightly re-embedding of the corpus
            b.usage(
                start=ts,
                account=AWS_PROD,
                code="AmazonBedrock",
                usage_type=f"USE1-{suffix}",
                operation="InvokeModelInference",
                amount=round(amount, 3),
                rate=rate,
                unit="1K tokens",
                description=f"{label}: ${rate:g} per 1K tokens in {LOCATION}",
                workload="inference",
                family="Amazon Bedrock",
                product_extra={
                    "model": label.rsplit(" ", 2)[0],
                    "provider": "Anthropic" if "Claude" in label else "Amazon",
                },
            )


def _opensearch(b: CurBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "opensearch")
    collections = (
        ("rag-docs-prod", AWS_PROD, 180.0),
        ("rag-docs-dev", AWS_DEV, 12.0),
    )
    for name, account, gib in collections:
        arn = f"arn:aws:aoss:{AWS_REGION}:{account}:collection/{stable_id('aoss', name, length=20)}"
        prod = name.endswith("prod")
        for ts in month.hours:
            demand = business(ts)
            search = (
                2.0
                + (1.0 if prod and demand > 0.6 else 0.0)
                + (1.0 if prod and demand > 0.93 and r.random() < 0.6 else 0.0)
            )
            reindex = prod and 2 <= (ts.hour - 4) % 24 < 4
            indexing = 4.0 if reindex else 2.0
            for kind, ocu in (("SearchOCU", search), ("IndexingOCU", indexing)):
                b.usage(
                    start=ts,
                    account=account,
                    code="AmazonES",
                    usage_type=f"USE1-{kind}",
                    operation=kind,
                    amount=ocu,
                    rate=0.24,
                    unit="OCU-hours",
                    description=f"$0.24 per OCU-hour for Amazon OpenSearch Serverless "
                    f"{'search' if kind == 'SearchOCU' else 'indexing'}",
                    workload="vector_storage",
                    family="Amazon OpenSearch Serverless",
                    resource=arn,
                )
        for day in range(1, month.days + 1):
            size = gib * (1 + 0.004 * day)
            b.usage(
                start=month.day(day),
                hours=24,
                account=account,
                code="AmazonES",
                usage_type="USE1-TimedStorage-ByteHrs",
                operation="ManagedStorage",
                amount=size / month.days,
                rate=0.024,
                unit="GB-Mo",
                description="$0.024 per GB-month of Amazon OpenSearch Serverless managed storage",
                workload="vector_storage",
                family="Amazon OpenSearch Serverless",
                resource=arn,
            )


def _ec2(b: CurBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "ec2")
    gpu = AWS_GPU_INSTANCE
    gpu_tags = dict(gpu.tags)
    api = "i-0b2d4f6a8c0e13579"
    api_tags = {"user_env": "prod", "user_team": "platform", "user_app": "api"}
    volume = "vol-0e4c8a2f6b1d3a597"
    nat = f"arn:aws:ec2:{AWS_REGION}:{AWS_PROD}:natgateway/nat-0c1e3a5b7d9f24680"
    for ts in month.hours:
        used = b.sp_covered(
            start=ts,
            account=AWS_PROD,
            instance_type="g5.12xlarge",
            amount=1.0,
            od_rate=5.672,
            resource=gpu.resource_id,
            tags=gpu_tags,
            workload="inference",
            az="us-east-1a",
        )
        used += b.sp_covered(
            start=ts,
            account=AWS_PROD,
            instance_type="m6i.large",
            amount=1.0,
            od_rate=0.096,
            resource=api,
            tags=api_tags,
            workload="other",
            az="us-east-1b",
        )
        b.sp_fee(ts, used)
        b.usage(
            start=ts,
            account=AWS_PROD,
            code="AmazonEC2",
            usage_type="EBS:VolumeUsage.gp3",
            operation="CreateVolume-Gp3",
            amount=1000.0 / len(month.hours),
            rate=0.08,
            unit="GB-Mo",
            description="$0.08 per GB-month of General Purpose (gp3) "
            "provisioned storage - US East (Northern Virginia)",
            workload="inference",
            family="Storage",
            resource=volume,
            tags=gpu_tags,
            az="us-east-1a",
        )
        b.usage(
            start=ts,
            account=AWS_PROD,
            code="AmazonEC2",
            usage_type="NatGateway-Hours",
            operation="NatGateway",
            amount=1.0,
            rate=0.045,
            unit="Hrs",
            description="$0.045 per NAT Gateway Hour",
            workload="other",
            family="NAT Gateway",
            resource=nat,
        )
        gb = (4.0 + 10.0 * business(ts)) * r.uniform(0.7, 1.3)
        b.usage(
            start=ts,
            account=AWS_PROD,
            code="AmazonEC2",
            usage_type="NatGateway-Bytes",
            operation="NatGateway",
            amount=round(gb, 6),
            rate=0.045,
            unit="GB",
            description="$0.045 per GB - NAT Gateway Data Processed",
            workload="other",
            family="NAT Gateway",
            resource=nat,
        )


def _s3(b: CurBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "s3")
    buckets = (
        (
            "synthetic-ml-training-data",
            62000.0,
            "training",
            {"user_workload": "training", "user_env": "prod", "user_team": "research"},
        ),
        (
            "synthetic-model-artifacts",
            24000.0,
            "training",
            {"user_workload": "training", "user_env": "prod", "user_team": "ml-platform"},
        ),
        ("synthetic-app-logs", 9000.0, "other", {"user_env": "prod", "user_team": "platform"}),
    )
    hours = len(month.hours)
    for bucket, gb, workload, tags in buckets:
        for i, ts in enumerate(month.hours):
            size = gb * (1 + 0.0002 * i)
            b.usage(
                start=ts,
                account=AWS_PROD,
                code="AmazonS3",
                usage_type="TimedStorage-ByteHrs",
                operation="StandardStorage",
                amount=size / hours,
                rate=0.023,
                unit="GB-Mo",
                description="$0.023 per GB - first 50 TB / month of storage used",
                workload=workload,
                family="Storage",
                resource=bucket,
                tags=tags,
                product_extra={"storage_class": "General Purpose"},
            )
        for day in range(1, month.days + 1):
            puts = r.uniform(0.4, 1.6) * (2.0e6 if workload == "training" else 6.0e6)
            gets = r.uniform(0.5, 1.5) * (4.0e7 if workload == "training" else 3.0e6)
            for usage_type, op, n, rate, text in (
                (
                    "Requests-Tier1",
                    "PutObject",
                    puts,
                    0.005,
                    "$0.005 per 1,000 PUT, COPY, POST, or LIST requests",
                ),
                (
                    "Requests-Tier2",
                    "GetObject",
                    gets,
                    0.0004,
                    "$0.0004 per 1,000 GET and all other requests",
                ),
            ):
                b.usage(
                    start=month.day(day),
                    hours=24,
                    account=AWS_PROD,
                    code="AmazonS3",
                    usage_type=usage_type,
                    operation=op,
                    amount=round(n / 1000, 3),
                    rate=rate,
                    unit="1K Requests",
                    description=text,
                    workload=workload,
                    family="API Request",
                    resource=bucket,
                    tags=tags,
                )
    for day in range(1, month.days + 1):
        b.usage(
            start=month.day(day),
            hours=24,
            account=AWS_PROD,
            code="AmazonS3",
            usage_type="DataTransfer-Out-Bytes",
            operation="GetObject",
            amount=round(r.uniform(30, 80), 6),
            rate=0.09,
            unit="GB",
            description="$0.09 per GB - first 10 TB / month data transfer out beyond the "
            "global free tier",
            workload="other",
            family="Data Transfer",
            resource="synthetic-app-logs",
            tags=buckets[2][3],
        )


def _cloudwatch_kms_ecr(b: CurBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "cloudwatch")
    for ts in month.hours:
        for account, lo, hi in ((AWS_PROD, 0.4, 1.4), (AWS_DEV, 0.1, 0.3)):
            b.usage(
                start=ts,
                account=account,
                code="AmazonCloudWatch",
                usage_type="DataProcessing-Bytes",
                operation="PutLogEvents",
                amount=round(r.uniform(lo, hi), 6),
                rate=0.5,
                unit="GB",
                description="$0.50 per GB - data ingested in US East (N. Virginia)",
                workload="other",
                family="Data Payload",
            )
    days = month.days
    for day in range(1, days + 1):
        start = month.day(day)
        daily = (
            (
                AWS_PROD,
                "AmazonCloudWatch",
                "CW:MetricMonitorUsage",
                "MetricStorage",
                650.0 / days,
                0.3,
                "Metrics",
                "$0.30 per metric-month - first 10,000 metrics",
                "Metric",
            ),
            (
                AWS_PROD,
                "AmazonCloudWatch",
                "TimedStorage-ByteHrs",
                "HourlyStorageMetering",
                2500.0 / days,
                0.03,
                "GB-Mo",
                "$0.03 per GB-mo of log storage",
                "Storage Snapshot",
            ),
            (
                AWS_PROD,
                "awskms",
                "us-east-1-KMS-Keys",
                "CreateKey",
                14.0 / days,
                1.0,
                "Keys",
                "$1 per customer-managed key per month",
                "Encryption Key",
            ),
            (
                AWS_PROD,
                "awskms",
                "us-east-1-KMS-Requests",
                "GenerateDataKey",
                round(r.uniform(180, 260), 3),
                0.03,
                "10K Requests",
                "$0.03 per 10,000 requests",
                "Encryption Key",
            ),
            (
                AWS_DEV,
                "awskms",
                "us-east-1-KMS-Keys",
                "CreateKey",
                6.0 / days,
                1.0,
                "Keys",
                "$1 per customer-managed key per month",
                "Encryption Key",
            ),
            (
                AWS_PROD,
                "AmazonECR",
                "TimedStorage-ByteHrs",
                "TimedStorage",
                420.0 / days,
                0.1,
                "GB-Mo",
                "$0.10 per GB-month of data storage",
                "EC2 Container Registry",
            ),
        )
        for account, code, usage_type, op, amount, rate, unit, text, family in daily:
            b.usage(
                start=start,
                hours=24,
                account=account,
                code=code,
                usage_type=usage_type,
                operation=op,
                amount=amount,
                rate=rate,
                unit=unit,
                description=text,
                workload="other",
                family=family,
            )


def _tax_and_credit(b: CurBuilder) -> None:
    taxable: dict[tuple[str, str], float] = defaultdict(float)
    for row in b.rows:
        taxable[(row["line_item_usage_account_id"], row["line_item_product_code"])] += row[
            "line_item_unblended_cost"
        ]
    for (account, code), amount in sorted(taxable.items()):
        if amount <= 0.005:
            continue
        # The default classification files Bedrock tax under inference (service-wide rule).
        workload = "inference" if code == "AmazonBedrock" else "other"
        b.month_row(
            account=account,
            code=code,
            item_type="Tax",
            amount=round(amount * TAX_RATE, 2),
            description=f"Tax for product code {code}",
            workload=workload,
        )
    b.month_row(
        account=AWS_PROD,
        code="AmazonBedrock",
        item_type="Credit",
        amount=-750.0,
        description="AWS Promotional Credit - Generative AI (synthetic)",
        workload="inference",
    )
