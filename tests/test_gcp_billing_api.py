"""``gcp_billing_api`` with the real Cloud Billing client libraries over REST, against FakeGoogle.

``FakeGoogle`` answers the four list methods with the documented JSON shapes (camelCase,
paginated with ``nextPageToken``, page size 1–2 so every listing has several pages).  The store
is seeded with Google Cloud cost rows through ``collectors.load`` — one project, one billed
Cloud Storage SKU and one billed Compute Engine SKU — so the collector's choices (which
projects have an export, which services and SKUs to price) follow from the bill, as for a
user.  The source is configured as in ``costagent.toml`` and run through the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from agent.store.prices import spot_counterpart, spot_discount, unit_price
from agent.store.schema import CollectionRun, Resource, SkuPrice
from collectors.base import validate_source
from collectors.load import load, table
from tests.gcp_fakes import FakeGoogle, GoogleRequest, Reply, error, page

MAIN = "billingAccounts/0000AA-BBBBBB-CCCCCC"
OLD = "billingAccounts/0000DD-EEEEEE-FFFFFF"
COMPUTE = "services/6F81-5844-456A"
VERTEX = "services/C7E2-9256-1C43"
STORAGE = "services/95FF-2EF5-5EA1"
BIGQUERY = "services/24E6-5820-38E5"
AMERICAS = ["us-central1", "us-east1"]

A100 = "039F-D0DA-4055"  # on-demand GPU
A100_SPOT = "0F3B-1C6E-7D22"  # its Spot twin
A2_CORE = "7A3B-8C1E-2F40"  # billed on-demand core (not matched by the filter)
A2_CORE_SPOT = "7A3B-8C1E-2F41"  # kept as the Spot twin of a kept SKU
A2_CORE_SPOT_ASIA = "7A3B-8C1E-2F42"  # same description, no shared region: dropped
N1_CORE = "9D2C-1A0E-4B17"  # neither billed nor relevant: dropped
N1_CORE_SPOT = "9D2C-1A0E-4B18"  # Spot twin of a dropped SKU: dropped
PIPELINES = "C1AB-2D3E-4F50"  # Vertex, tiered
FEATURE_STORE = "C1AB-2D3E-4F51"  # Vertex, not AI-relevant by the filter: dropped
STANDARD_STORAGE = "E5F0-6A5D-7BAD"  # billed in Cloud Storage
NEARLINE = "E5F0-6A5D-7BAE"  # not billed: dropped


def money(units: str, nanos: int) -> dict[str, Any]:
    return {"currencyCode": "USD", "units": units, "nanos": nanos}


def sku(
    sku_id: str,
    description: str,
    group: str,
    usage: str = "OnDemand",
    regions: list[str] = AMERICAS,
    tiers: tuple[tuple[float, dict[str, Any]], ...] = ((0, money("0", 0)),),
    unit: str = "h",
    service: str = "Compute Engine",
) -> dict[str, Any]:
    return {
        "name": f"services/x/skus/{sku_id}",
        "skuId": sku_id,
        "description": description,
        "category": {
            "serviceDisplayName": service,
            "resourceFamily": "Compute",
            "resourceGroup": group,
            "usageType": usage,
        },
        "serviceRegions": regions,
        "pricingInfo": [
            {
                "summary": "",
                "effectiveTime": "2026-11-20T08:00:00.000Z",
                "pricingExpression": {
                    "usageUnit": unit,
                    "usageUnitDescription": "hour" if unit == "h" else unit,
                    "displayQuantity": 1,
                    "baseUnit": "s" if unit == "h" else unit,
                    "baseUnitConversionFactor": 3600 if unit == "h" else 1,
                    "tieredRates": [
                        {"startUsageAmount": start, "unitPrice": price} for start, price in tiers
                    ],
                },
                "currencyConversionRate": 1,
            }
        ],
        "serviceProviderName": "Google",
    }


def catalog() -> dict[str, list[dict[str, Any]]]:
    """SKUs per service, as the catalog lists them."""
    core = "A2 Instance Core running in Americas"
    return {
        COMPUTE: [
            sku(
                A100,
                "Nvidia Tesla A100 GPU running in Americas",
                "GPU",
                tiers=((0, money("2", 933908000)),),
            ),
            sku(
                A100_SPOT,
                "Spot Preemptible Nvidia Tesla A100 GPU running in Americas",
                "GPU",
                "Preemptible",
                tiers=((0, money("0", 880172400)),),
            ),
            sku(A2_CORE, core, "CPU", tiers=((0, money("0", 31611000)),)),
            sku(
                A2_CORE_SPOT,
                f"Spot Preemptible {core}",
                "CPU",
                "Preemptible",
                tiers=((0, money("0", 9483300)),),
            ),
            sku(A2_CORE_SPOT_ASIA, f"Preemptible {core}", "CPU", "Preemptible", ["asia-east1"]),
            sku(N1_CORE, "N1 Predefined Instance Core running in Americas", "N1Standard"),
            sku(
                N1_CORE_SPOT,
                "Spot Preemptible N1 Predefined Instance Core running in Americas",
                "N1Standard",
                "Preemptible",
            ),
        ],
        VERTEX: [
            sku(
                PIPELINES,
                "Vertex AI Pipelines run",
                "Pipelines",
                unit="count",
                tiers=((0, money("2", 500000000)), (1000, money("0", 2480000))),
                service="Vertex AI",
            ),
            sku(
                FEATURE_STORE,
                "Feature Store Online Serving Node",
                "FeatureStore",
                service="Vertex AI",
            ),
        ],
        STORAGE: [
            sku(
                STANDARD_STORAGE,
                "Standard Storage US Multi-region",
                "MultiRegionalStorage",
                unit="GiBy.mo",
                tiers=((0, money("0", 26000000)),),
            ),
            sku(NEARLINE, "Nearline Storage Iowa", "NearlineStorage", unit="GiBy.mo"),
        ],
        BIGQUERY: [sku("5E2F-0000-0001", "Analysis", "BigQuery")],
    }


class Google:
    """The fake's data, editable between runs, and switches to deny an API."""

    def __init__(self) -> None:
        self.accounts = [
            {"name": MAIN, "displayName": "Main", "open": True, "masterBillingAccount": ""},
            {
                "name": OLD,
                "displayName": "Old reseller sub-account",
                "open": False,
                "masterBillingAccount": MAIN,
            },
        ]
        self.projects = {
            MAIN: [project("ml-prod", MAIN, True), project("ml-dev", MAIN, True)],
            OLD: [project("legacy-app", OLD, False)],
        }
        self.services = [
            {
                "name": name,
                "serviceId": name.split("/")[1],
                "displayName": display,
                "businessEntityName": "businessEntities/GCP",
            }
            for name, display in (
                (COMPUTE, "Compute Engine"),
                (BIGQUERY, "BigQuery"),
                (VERTEX, "Vertex AI"),
                (STORAGE, "Cloud Storage"),
            )
        ]
        self.skus = catalog()
        self.denied: set[str] = set()

    def routes(self) -> dict[str, Any]:
        return {
            "GET /v1/billingAccounts": self.list_accounts,
            "GET /v1/billingAccounts/{account}/projects": self.list_projects,
            "GET /v1/services": self.list_services,
            "GET /v1/services/{service}/skus": self.list_skus,
        }

    def list_accounts(self, req: GoogleRequest) -> Reply:
        if "accounts" in self.denied:
            return error(403, "The caller does not have permission")
        return page(self.accounts, "billingAccounts", req, 1)

    def list_projects(self, req: GoogleRequest) -> Reply:
        account = f"billingAccounts/{req.params['account']}"
        return page(self.projects[account], "projectBillingInfo", req, 1)

    def list_services(self, req: GoogleRequest) -> Reply:
        if "catalog" in self.denied:
            return error(403, "Cloud Billing API has not been used in project 123 before")
        return page(self.services, "services", req, 2)

    def list_skus(self, req: GoogleRequest) -> Reply:
        assert req.arg("currencyCode") == "USD"
        return page(self.skus[f"services/{req.params['service']}"], "skus", req, 2)


def project(project_id: str, account: str, enabled: bool) -> dict[str, Any]:
    return {
        "name": f"projects/{project_id}/billingInfo",
        "projectId": project_id,
        "billingAccountName": account if enabled else "",
        "billingEnabled": enabled,
    }


# -- running -------------------------------------------------------------------------------------
@pytest.fixture
def google() -> Iterator[tuple[Google, FakeGoogle]]:
    data = Google()
    with FakeGoogle(data.routes()) as fake:
        yield data, fake


def seed_bill(engine: Engine) -> None:
    """Google Cloud cost rows for ml-prod (storage + an A2 core), and an AWS row naming ml-dev."""

    def row(provider: str, account: str, service: str, sku_id: str) -> dict[str, Any]:
        return {
            "provider_name": provider,
            "billing_account_id": "0000AA-BBBBBB-CCCCCC",
            "sub_account_id": account,
            "service_name": service,
            "sku_id": sku_id,
            "billed_cost": Decimal("12.5"),
            "billing_currency": "USD",
            "charge_category": "Usage",
            "billing_period_start": datetime(2026, 11, 1),
            "charge_period_start": datetime(2026, 11, 3),
            "charge_period_end": datetime(2026, 11, 4),
        }

    rows = [
        row("Google Cloud", "ml-prod", "Cloud Storage", STANDARD_STORAGE),
        row("Google Cloud", "ml-prod", "Compute Engine", A2_CORE),
        row("AWS", "ml-dev", "Amazon S3", "S3-1"),  # another provider's sub account of that name
    ]
    load(engine, load_settings(None), "bill", [("cost", table("cost", rows))])


def source(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gcp-billing",
        "type": "gcp_billing_api",
        "anonymous": True,
        "api_endpoints": {"billing": url},
        "backoff_seconds": 0.01,
        **extra,
    }


def run(engine: Engine, raw: dict[str, Any]) -> SourceOutcome:
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    [outcome] = collect_all(engine, settings)
    return outcome


def resources(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.resource_id: r for r in conn.execute(select(Resource)).all()}


def prices(engine: Engine) -> dict[tuple[str, Decimal], Any]:
    with engine.connect() as conn:
        return {(p.sku_id, p.tier_start): p for p in conn.execute(select(SkuPrice)).all()}


KEPT = {A100, A100_SPOT, A2_CORE, A2_CORE_SPOT, PIPELINES, STANDARD_STORAGE}


# -- tests ---------------------------------------------------------------------------------------
def test_accounts_projects_and_prices(engine: Engine, google: tuple[Google, FakeGoogle]) -> None:
    _, fake = google
    seed_bill(engine)
    outcome = run(engine, source(fake.url))
    assert outcome.status == "ok", outcome.error
    assert outcome.warnings == ()

    res = resources(engine)
    main, old = res[MAIN], res[OLD]
    assert (main.resource_type, main.provider_name, main.x_source) == (
        "gcp_billing_account",
        "Google Cloud",
        "gcp-billing",
    )
    assert main.attributes["display_name"] == "Main" and main.attributes["open"] is True
    assert main.attributes["master_billing_account"] is None
    assert old.attributes["open"] is False and old.attributes["master_billing_account"] == MAIN
    projects = {k: r.attributes for k, r in res.items() if r.resource_type == "gcp_project"}
    assert projects == {
        "ml-prod": {
            "project_id": "ml-prod",
            "billing_account": MAIN,
            "billing_enabled": True,
            "has_billing_export": True,
        },
        "ml-dev": {  # an AWS row with that sub account id does not count
            "project_id": "ml-dev",
            "billing_account": MAIN,
            "billing_enabled": True,
            "has_billing_export": False,
        },
        "legacy-app": {
            "project_id": "legacy-app",
            "billing_account": OLD,
            "billing_enabled": False,
            "has_billing_export": False,
        },
    }

    stored = prices(engine)
    assert {k[0] for k in stored} == KEPT
    assert len(stored) == len(KEPT) + 1  # the pipelines SKU has two tiers
    a100 = stored[(A100, Decimal(0))]
    assert a100.unit_price == Decimal("2.933908")
    assert (a100.service_id, a100.service_name, a100.usage_type) == (
        "6F81-5844-456A",
        "Compute Engine",
        "OnDemand",
    )
    assert (a100.resource_family, a100.resource_group, a100.regions) == ("Compute", "GPU", AMERICAS)
    assert (a100.pricing_unit, a100.pricing_unit_description, a100.currency) == ("h", "hour", "USD")
    assert a100.effective_time == datetime(2026, 11, 20, 8, 0)
    assert stored[(PIPELINES, Decimal(0))].unit_price == Decimal("2.5")
    assert stored[(PIPELINES, Decimal(1000))].unit_price == Decimal("0.002480000")
    assert stored[(A2_CORE_SPOT, Decimal(0))].usage_type == "Preemptible"

    # 2 account pages + 2+1 project pages; services 2 pages + SKUs 4 + 1 + 1 pages
    with engine.connect() as conn:
        details = conn.execute(select(CollectionRun.details)).scalar_one()
    assert details["requests"] == {"billing": 5, "catalog": 8}
    assert outcome.api_requests == 13
    assert details["resources"] == {"gcp_billing_account": 2, "gcp_project": 3}
    assert details["priced_services"] == ["Compute Engine", "Vertex AI", "Cloud Storage"]
    assert outcome.rows == 5 + 7
    assert "GET /v1/services/24E6-5820-38E5/skus" not in fake.calls  # BigQuery: not billed


def test_price_helpers(engine: Engine, google: tuple[Google, FakeGoogle]) -> None:
    _, fake = google
    seed_bill(engine)
    assert run(engine, source(fake.url)).status == "ok"
    with engine.connect() as conn:
        first = unit_price(conn, PIPELINES)
        assert first is not None and first.unit_price == Decimal("2.5")
        assert first.pricing_unit == "count"
        tiers = [unit_price(conn, PIPELINES, q) for q in (999, Decimal(1000), 5000)]
        assert [t.unit_price if t else None for t in tiers] == [
            Decimal("2.5"),
            Decimal("0.00248"),
            Decimal("0.00248"),
        ]
        assert unit_price(conn, "NO-SUCH-SKU") is None

        spot = spot_counterpart(conn, A100)
        assert spot is not None and (spot.sku_id, spot.unit_price) == (
            A100_SPOT,
            Decimal("0.8801724"),
        )
        assert spot_discount(conn, A100) == Decimal("0.7")
        core = spot_counterpart(conn, A2_CORE)  # the Americas twin, not the Asian one
        assert core is not None and core.sku_id == A2_CORE_SPOT
        assert spot_discount(conn, A2_CORE) == Decimal("0.7")
        assert spot_counterpart(conn, A100_SPOT) is None  # already Spot
        assert spot_discount(conn, STANDARD_STORAGE) is None  # no Spot twin


def test_rerun_replaces_prices(engine: Engine, google: tuple[Google, FakeGoogle]) -> None:
    data, fake = google
    seed_bill(engine)
    raw = source(fake.url)
    assert run(engine, raw).status == "ok"
    first = prices(engine)
    data.skus[COMPUTE] = [s for s in data.skus[COMPUTE] if s["skuId"] != A2_CORE_SPOT]
    a100 = next(s for s in data.skus[COMPUTE] if s["skuId"] == A100)
    a100["pricingInfo"][0]["pricingExpression"]["tieredRates"][0]["unitPrice"] = money("3", 0)

    assert run(engine, raw).status == "ok"
    second = prices(engine)
    assert set(second) == set(first) - {(A2_CORE_SPOT, Decimal(0))}
    assert second[(A100, Decimal(0))].unit_price == Decimal(3)
    with engine.connect() as conn:
        assert len(conn.execute(select(SkuPrice.id)).all()) == len(first) - 1
        assert spot_counterpart(conn, A2_CORE) is None  # the twin is gone
    assert len(resources(engine)) == 5  # resources upserted, not duplicated


def test_throttling_is_retried(engine: Engine, google: tuple[Google, FakeGoogle]) -> None:
    _, fake = google
    fake.fail_next(2, 429)
    outcome = run(engine, source(fake.url))
    assert outcome.status == "ok", outcome.error
    assert outcome.warnings == ()
    assert fake.calls[:3] == ["GET /v1/billingAccounts"] * 3
    assert "ml-prod" in resources(engine)
    assert outcome.api_requests == 5 + 7  # pages, not attempts (nothing billed: 2 services)


def test_catalog_denied_keeps_projects_and_old_prices(
    engine: Engine, google: tuple[Google, FakeGoogle]
) -> None:
    data, fake = google
    seed_bill(engine)
    raw = source(fake.url)
    assert run(engine, raw).status == "ok"
    before = {k: p.unit_price for k, p in prices(engine).items()}
    data.denied.add("catalog")
    data.projects[MAIN].append(project("ml-new", MAIN, True))

    outcome = run(engine, raw)
    assert outcome.status == "ok", outcome.error
    [warning] = outcome.warnings
    assert warning.startswith("catalog: ") and "(403)" in warning
    assert "ml-new" in resources(engine)
    assert {k: p.unit_price for k, p in prices(engine).items()} == before


def test_everything_denied_fails(engine: Engine, google: tuple[Google, FakeGoogle]) -> None:
    data, fake = google
    data.denied |= {"accounts", "catalog"}
    outcome = run(engine, source(fake.url))
    assert outcome.status == "failed"
    assert outcome.error is not None and "(403)" in outcome.error


def test_restricted_accounts_and_no_catalog(
    engine: Engine, google: tuple[Google, FakeGoogle]
) -> None:
    _, fake = google
    raw = source(
        fake.url, billing_accounts=["0000DD-EEEEEE-FFFFFF", "0000XX-000000-000000"], catalog=False
    )
    outcome = run(engine, raw)
    assert outcome.status == "ok", outcome.error
    assert outcome.warnings == (
        "billing accounts not visible to these credentials: "
        "['billingAccounts/0000XX-000000-000000']",
    )
    assert set(resources(engine)) == {OLD, "legacy-app"}
    assert prices(engine) == {}
    assert not any("/v1/services" in c for c in fake.calls)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="sku_filter"):
        validate_source({"name": "g", "type": "gcp_billing_api", "sku_filter": "("})
    with pytest.raises(ValueError, match="currency"):
        validate_source({"name": "g", "type": "gcp_billing_api", "currency": "XXY"})


def test_migration_creates_sku_prices(engine: Engine) -> None:
    insp = inspect(engine)
    columns = {c["name"] for c in insp.get_columns("sku_prices")}
    assert {"sku_id", "tier_start", "unit_price", "regions", "usage_type", "x_source"} <= columns
    [unique] = insp.get_unique_constraints("sku_prices")
    assert unique["column_names"] == ["provider_name", "sku_id", "tier_start"]


def test_collected_prices_price_the_spot_training_what_if(
    engine: Engine, google: tuple[Google, FakeGoogle]
) -> None:
    """End to end: the catalog's Spot twin prices decide a rule's savings figure.

    A GPU trainer VM billed $600 of A100 hours and $100 of A2 cores on-demand in the window;
    list prices give A100 1 − 0.8801724/2.933908 = 70 % and A2 core 1 − 0.0094833/0.031611 =
    70 %, so $490 in the 30-day (720 h) window, × 730/720 = $496.81 a month.
    """
    from agent.store.findings import list_findings
    from rules.base import configured_rules
    from rules.engine import analyze

    _, fake = google
    trainer = "//compute.googleapis.com/projects/ml-prod/zones/us-central1-a/instances/trainer"
    day = datetime(2026, 11, 10)
    rows = [
        {
            "provider_name": "Google Cloud",
            "billing_account_id": "0000AA-BBBBBB-CCCCCC",
            "sub_account_id": "ml-prod",
            "service_name": "Compute Engine",
            "sku_id": sku_id,
            "x_usage_type": description,
            "resource_id": trainer,
            "billed_cost": Decimal(amount),
            "effective_cost": Decimal(amount),
            "billing_currency": "USD",
            "charge_category": "Usage",
            "billing_period_start": datetime(2026, 11, 1),
            "charge_period_start": day,
            "charge_period_end": day.replace(hour=23),
        }
        for sku_id, description, amount in (
            (A100, "Nvidia Tesla A100 GPU running in Americas", "600"),
            (A2_CORE, "A2 Instance Core running in Americas", "100"),
        )
    ]
    job = {
        "resource_id": trainer,
        "provider_name": "Google Cloud",
        "resource_type": "training_job",
        "region_id": "us-central1",
        "observed_at": day,
        "attributes": '{"scheduling_strategy": "STANDARD", "training_seconds": 36000}',
    }
    settings = load_settings(None)
    load(engine, settings, "bill", [("cost", table("cost", rows))])
    load(engine, settings, "inv", [("resources", table("resources", [job]))])
    assert run(engine, source(fake.url)).status == "ok"

    result = analyze(engine, configured_rules({}), window_days=30, now=datetime(2026, 11, 20))
    assert result.errors == {}
    [finding] = [f for f in list_findings(engine) if f["rule_id"] == "spot-training"]
    assert finding["subject"] == trainer
    assert finding["monthly_savings"] == Decimal("496.81")
    assert finding["confidence"] == "medium"
    assert {
        (s["sku_id"], s["discount"], s["discount_source"]) for s in finding["evidence"]["by_sku"]
    } == {
        (A100, "0.7000", "catalog"),
        (A2_CORE, "0.7000", "catalog"),
    }
