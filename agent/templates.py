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

# Rule settings (the rules engine): [rules.<rule_id>], e.g.
# [rules.idle-endpoint]
# enabled = true

[report]
timezone = "UTC"

# [report.email]
# smtp_host = "smtp.example.com"
# smtp_port = 587
# starttls = true
# from = "costagent@example.com"
# to = ["finops@example.com"]     # user/password: COSTAGENT_SMTP_USERNAME / _PASSWORD

# [report.slack]
# webhook_url_env = "SLACK_WEBHOOK_URL"

[schedule]
# cron expressions, in report.timezone
collect = "0 */6 * * *"
analyze = "30 6 * * *"
report = "0 9 * * 1"
"""
