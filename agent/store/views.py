"""The views for ad-hoc SQL, written once per dialect.

Views are plain SQL so any SQL client can use them.  The only dialect difference is how a
timestamp becomes a day: ``date()`` on SQLite (times are ISO text there), ``CAST(… AS DATE)`` on
PostgreSQL.  On SQLite the sums in ``daily_cost`` are doubles (fine for exploring); the agent's
own reports use ``money_sum`` for exact totals.
"""

from __future__ import annotations

_DAY = {"sqlite": "date(charge_period_start)", "postgresql": "CAST(charge_period_start AS DATE)"}


def view_sql(dialect: str) -> dict[str, str]:
    day = _DAY.get(dialect, _DAY["postgresql"])
    return {
        "daily_cost": f"""
CREATE VIEW daily_cost AS
SELECT {day} AS day,
       provider_name AS provider,
       x_workload AS workload,
       service_name AS service,
       sub_account_id,
       sub_account_name,
       billing_currency AS currency,
       SUM(billed_cost) AS billed,
       SUM(effective_cost) AS effective,
       COUNT(*) AS line_items
FROM cost_line_items
GROUP BY {day}, provider_name, x_workload, service_name, sub_account_id, sub_account_name,
         billing_currency""",
        "ai_spend": """
CREATE VIEW ai_spend AS
SELECT * FROM daily_cost WHERE workload <> 'other'""",
        "open_findings": """
CREATE VIEW open_findings AS
SELECT fingerprint, rule_id, subject, title, recommendation, monthly_savings, currency,
       confidence, first_seen, last_seen
FROM findings
WHERE status = 'open'""",
    }


VIEW_NAMES = ("ai_spend", "daily_cost", "open_findings")  # drop order: dependants first
