"""The example configuration ``costagent init`` writes: every key, commented."""

EXAMPLE_CONFIG = """\
# costagent configuration. Every key is optional unless marked required.
# Precedence: --db > environment (COSTAGENT_DATABASE_URL, COSTAGENT_<SECTION>__<KEY>) > this file.
# Secrets never go in this file: they come from the environment or a secrets file.

[database]
# SQLite file (default) or PostgreSQL: "postgresql://user@host:5432/costagent"
url = "sqlite:///costagent.db"

# One [[sources]] table per source; `name` appears as x_source on every row it loads.
# [[sources]]
# name = "local-exports"
# type = "local_files"
# paths = ["/srv/billing/focus", "/srv/billing/cur2"]   # files or folders; format detected

# Every AWS source also takes: regions = ["us-east-1", ...], endpoint_url, profile,
# role_arns = ["arn:aws:iam::…:role/costagent-read"] (+ external_id), max_attempts,
# backoff_seconds.
# Credentials: the standard boto3 chain (instance role, env, ~/.aws) or `profile`.
# [[sources]]
# name = "aws-cur"
# type = "aws_data_exports"          # CUR 2.0 or FOCUS Data Export in S3
# bucket = "acme-billing"
# prefix = "exports/cur2"            # holds data/BILLING_PERIOD=YYYY-MM/ and metadata/
# region = "us-east-1"
#
# [[sources]]
# name = "aws-ce"
# type = "aws_cost_explorer"         # accounts without an export; $0.01 per request
# trailing_days = 3                  # re-pulled each run (estimated days become final)
# request_budget = 20                # per run; the run stops cleanly with a warning
# group_by_tag = "workload"          # optional
#
# [[sources]]
# name = "aws-metrics"
# type = "aws_metrics"               # CloudWatch: SageMaker, Bedrock, AOSS, GPU EC2
# regions = ["us-east-1"]
#
# [[sources]]
# name = "aws-inventory"
# type = "aws_inventory"             # endpoints, training jobs, notebooks, collections, GPUs
# regions = ["us-east-1"]

# Every GCP source also takes: credentials_file (service-account key path; default: application
# default credentials), quota_project, api_endpoints = { bigquery = "…", billing = "…",
# monitoring = "…", aiplatform = "…" }, backoff_seconds, retry_deadline_seconds.
# Roles: deploy/gcp-roles.md.
# [[sources]]
# name = "gcp-bq"
# type = "gcp_billing_export"        # the BigQuery billing export
# table = "acme-billing.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
# # focus_view = "acme-billing.billing_export.gcp_billing_export_focus_…"  (instead of table)
# granularity = "hourly"             # or "raw": every export row
# trailing_days = 3                  # re-pulled each run (Google restates recent days)
# backfill_start = 2026-10-01        # first run; default: first day of last month
# maximum_bytes_billed = 53687091200 # refuse a query scanning more (50 GiB)
# price_per_tib = 6.25               # on-demand price, for the cost shown per run
#
# [[sources]]
# name = "gcp-billing"
# type = "gcp_billing_api"           # billing accounts, linked projects, SKU list prices
#
# [[sources]]
# name = "gcp-vertex"
# type = "gcp_vertex"                # Vertex AI endpoints/jobs + Cloud Monitoring usage
# projects = ["ml-prod"]             # required
# locations = ["us-central1"]
#
# [[sources]]
# name = "openai"
# type = "openai_usage"              # OpenAI Usage + Costs API; key in $OPENAI_ADMIN_KEY
#
# [[sources]]
# name = "anthropic"
# type = "anthropic_usage"           # Anthropic Usage & Cost API; key in $ANTHROPIC_ADMIN_KEY
#
# [[sources]]
# name = "gateway"
# type = "litellm_db"                # LiteLLM proxy's spend logs; DSN in $LITELLM_DATABASE_URL

[classification]
# Tag whose value names the workload (inference, training, vector_storage, other; synonyms
# such as serving or fine-tuning are understood). AWS user tags arrive as user_<key>: both work.
tag_key = "workload"

# Your own rules, tried before the built-in ones (after the tag). Globs, case-insensitive;
# every given field must match.
# [[classification.rules]]
# workload = "inference"
# service = "Amazon Elastic Compute Cloud*"
# tag = "team=ml-serving"
#
# [[classification.rules]]
# workload = "vector_storage"
# resource = "*pgvector*"

# The LLM request log, for every rule that reads it and the report: its sample rate and any
# private prices (per million tokens; they win over the genai-prices table).
# [llm_requests]
# sample_rate = 1                    # 0.01 if the gateway logs 1 % of its calls
# [llm_requests.prices."anthropic.claude-3-5-sonnet-20240620-v1:0"]
# input = 2.40
# output = 12.00

# Rule settings (the rules engine): [rules.<rule_id>]; every threshold has a default, a
# misspelt key is an error, enabled = false turns a rule off. e.g.
# [rules.spot-training]
# min_hours = 1.0                    # jobs shorter than this are left alone
# default_discount = 0.60            # when neither the catalog nor your spot history knows
# min_monthly_savings = 10

[report]
timezone = "UTC"                     # IANA zone of the report week and the [schedule] crons
# top_n = 10                         # services and resources listed
# stale_billing_days = 3             # flag a source whose newest billing row is older

# [report.email]
# smtp_host = "smtp.example.com"
# smtp_port = 587                    # 587 STARTTLS (default), 465 with ssl = true, 25 plain
# starttls = true
# from = "costagent@example.com"
# to = ["finops@example.com"]
# username = "costagent"             # or COSTAGENT_SMTP_USERNAME; password only from
#                                    # COSTAGENT_SMTP_PASSWORD or password_file = "/path"

# [report.slack]
# webhook_url_env = "SLACK_WEBHOOK_URL"   # the NAME of the variable holding the webhook URL
# token_env = "SLACK_BOT_TOKEN"      # or a bot token + channel (uploads the chart too)
# channel = "#finops"

[schedule]
# crontab expressions in report.timezone (1 = Monday); "off" disables a job
collect = "0 */6 * * *"              # billing sources
collect_metrics = "15 * * * *"       # metrics and inventory sources
analyze = "30 6 * * *"
report = "0 9 * * 1"

# [daemon]                           # `costagent run`; every key: deploy/costagent.example.toml
# log_format = "json"
# misfire_grace_seconds = 21600      # a run missed by < 6 h (host asleep) still runs, once
"""
