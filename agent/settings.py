"""The settings sections every stage shares — the core of the configuration.

The database, classification, analysis, report, schedule and daemon sections are not plug-ins,
so they live here, below every stage: a collector or the store can take :class:`CoreSettings`
without importing the collectors' and rules' registries.  :mod:`agent.config` adds the plug-in
sections (``[[sources]]``, ``[rules.*]``) built from those registries and loads the file.
Every section is strict: an unknown key or a wrong type is an error that names the key.
"""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent import redact
from agent.cron import cron_trigger
from agent.validation import describe, first_problem

DEFAULT_DB_URL = "sqlite:///costagent.db"
DEFAULT_CONFIG_NAME = "costagent.toml"
WORKLOADS = ("inference", "vector_storage", "training", "other")
Workload = Literal["inference", "vector_storage", "training", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    """``[database]``: where the store lives."""

    url: str = Field(
        default=DEFAULT_DB_URL,
        description="SQLite file (one host) or postgresql://user@host:5432/costagent; "
        "COSTAGENT_DATABASE_URL overrides it, which is where a password belongs",
    )


class ClassificationRule(_Strict):
    """A user rule: every given pattern must match (shell-style globs, case-insensitive)."""

    workload: Workload = Field(
        description="the workload matching rows belong to", examples=["inference"]
    )
    provider: str | None = Field(default=None, description="provider glob", examples=["aws"])
    service: str | None = Field(
        default=None, description="service glob", examples=["Amazon Elastic Compute Cloud*"]
    )
    usage_type: str | None = Field(
        default=None, description="usage type / SKU glob", examples=["*BoxUsage:p4d*"]
    )
    resource: str | None = Field(
        default=None, description="resource id glob", examples=["*pgvector*"]
    )
    tag: str | None = Field(
        default=None, description="key=value; value may be a glob", examples=["team=ml-serving"]
    )

    @field_validator("tag")
    @classmethod
    def _tag_has_equals(cls, value: str | None) -> str | None:
        if value is not None and "=" not in value:
            raise ValueError("tag must be written key=value")
        return value


class ClassificationConfig(_Strict):
    """``[classification]``: which workload (inference, training, vector_storage, other) each
    cost row belongs to."""

    tag_key: str = Field(
        default="workload",
        description="tag whose value names the workload (synonyms such as serving or "
        "fine-tuning are understood; AWS user tags arrive as user_<key>: both work)",
    )
    rules: list[ClassificationRule] = Field(
        default_factory=list,
        description="your own rules, tried before the built-in ones (after the tag); every "
        "given pattern must match",
    )


class _Delivery(_Strict):
    """How hard one delivery channel tries: its failures are retried, recorded, never raised."""

    timeout: float = Field(
        default=30.0, gt=0, description="seconds per network operation / request"
    )
    attempts: int = Field(default=3, ge=1, le=10, description="tries before giving up")
    retry_delay: float = Field(
        default=2.0, ge=0, description="seconds before the first retry; doubles each time"
    )


class EmailConfig(_Delivery):
    """``[report.email]``: where the weekly report is mailed.

    Secrets never live here: the login comes from ``COSTAGENT_SMTP_USERNAME`` /
    ``COSTAGENT_SMTP_PASSWORD`` (or a password file), so the config file can be committed.
    """

    smtp_host: str = Field(description="the SMTP server", examples=["smtp.example.com"])
    smtp_port: int = Field(
        default=587, description="default 587 with STARTTLS, 465 with ssl, 25 for plain relays"
    )
    starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS")
    ssl: bool = Field(default=False, description="implicit TLS from the first byte (SMTPS)")
    from_: str = Field(
        alias="from", description="sender address", examples=["costagent@example.com"]
    )
    to: list[str] = Field(min_length=1, description="recipients", examples=[["finops@example.com"]])
    username: str | None = Field(
        default=None,
        description="log in as this user (or env COSTAGENT_SMTP_USERNAME)",
        examples=["costagent"],
    )
    password_file: Path | None = Field(
        default=None,
        description="file holding the SMTP password (or COSTAGENT_SMTP_PASSWORD)",
        examples=["/etc/costagent/smtp-password"],
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle to verify the server (e.g. an internal CA)",
        examples=["/etc/ssl/certs/internal-ca.pem"],
    )
    allow_plaintext_auth: bool = Field(
        default=False,
        description="log in without TLS to a non-loopback host (the password travels in clear)",
    )

    def cleartext_login_error(self, username: str) -> str | None:
        """Why logging in as ``username`` must be refused, or None when the password is safe.

        Without STARTTLS or SMTPS the AUTH exchange is base64, i.e. the password in clear for
        anyone on the path; only a loopback relay (or an explicit opt-in) makes that acceptable.
        Also called at send time, for a username that comes from the environment.
        """
        if self.ssl or self.starttls or self.allow_plaintext_auth or _is_loopback(self.smtp_host):
            return None
        return (
            f"SMTP login as {username} to {self.smtp_host} without TLS would send the password "
            "in clear: set starttls = true or ssl = true (or allow_plaintext_auth = true)"
        )

    @model_validator(mode="after")
    def _no_cleartext_password(self) -> EmailConfig:
        problem = self.cleartext_login_error(self.username) if self.username else None
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="before")
    @classmethod
    def _tls_mode(cls, raw: Any) -> Any:
        """``ssl = true`` alone means SMTPS on 465; asking for both TLS modes is an error."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        if raw.get("ssl") is True:
            if raw.get("starttls") is True:
                raise ValueError("choose one of ssl (port 465) and starttls (port 587)")
            raw.setdefault("starttls", False)
        if "smtp_port" not in raw:
            if raw.get("ssl") is True:
                raw["smtp_port"] = 465
            elif raw.get("starttls", True) is False:
                raw["smtp_port"] = 25
        return raw


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (no DNS lookup: a name's answer can change)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class SlackConfig(_Delivery):
    """``[report.slack]``: an incoming webhook, a bot token + channel, or both.

    Only the *names* of the environment variables holding the webhook URL and the token are
    configured — the URL is itself a secret.  The webhook is used when ``webhook_url_env`` is
    given or no ``channel`` is; the bot when ``channel`` is.
    """

    webhook_url_env: str | None = Field(
        default="SLACK_WEBHOOK_URL", description="env var holding the incoming-webhook URL"
    )
    token_env: str | None = Field(
        default="SLACK_BOT_TOKEN", description="env var holding the bot token (xoxb-…)"
    )
    channel: str | None = Field(
        default=None, description="channel for the bot", examples=["#finops"]
    )
    api_base_url: str | None = Field(
        default=None,
        description="Slack Web API base URL (Enterprise Grid gateways, proxies)",
        examples=["https://slack.com/api/"],
    )
    chart_dir: Path | None = Field(
        default=None,
        description="directory the webhook's weekly chart PNG is written to (with "
        "chart_base_url: a web server must publish it)",
        examples=["/var/lib/costagent/charts"],
    )
    chart_base_url: str | None = Field(
        default=None,
        description="public URL of chart_dir (Slack fetches the image from it)",
        examples=["https://reports.example.com/costagent"],
    )

    @model_validator(mode="after")
    def _chart_dir_is_published(self) -> SlackConfig:
        """A webhook cannot upload files, so its chart is a file served at a public URL."""
        if (self.chart_dir is None) != (self.chart_base_url is None):
            raise ValueError("chart_dir and chart_base_url go together (the directory and its URL)")
        if self.chart_base_url is not None:
            if not self.chart_base_url.startswith(("https://", "http://")):
                raise ValueError("chart_base_url must be an http(s) URL")
            if not self.uses_webhook:
                raise ValueError("chart_dir is for the webhook; the bot uploads the chart itself")
        return self

    @model_validator(mode="after")
    def _bot_needs_channel(self) -> SlackConfig:
        if "token_env" in self.model_fields_set and self.token_env and not self.channel:
            raise ValueError("token_env needs a channel to post to")
        if not self.webhook_url_env and not self.channel:
            raise ValueError("set webhook_url_env, or a channel and token_env for the bot")
        if self.channel and not self.token_env:
            raise ValueError("channel needs token_env (the bot token's environment variable)")
        return self

    @property
    def uses_webhook(self) -> bool:
        explicit = "webhook_url_env" in self.model_fields_set or not self.channel
        return bool(self.webhook_url_env) and explicit

    @property
    def uses_bot(self) -> bool:
        return bool(self.channel)


class ReportConfig(_Strict):
    """``[report]``: the weekly report and where it is delivered."""

    timezone: str = Field(
        default="UTC", description="IANA zone of the report week and the [schedule] crons"
    )
    title: str = Field(default="costagent weekly", description="subject / heading prefix")
    top_n: int = Field(default=10, ge=1, le=50, description="services and resources listed")
    stale_billing_days: int = Field(
        default=3, ge=1, description="flag a source whose newest billing row is older"
    )
    stale_usage_days: int = Field(
        default=2, ge=1, description="flag a source whose newest metric / request is older"
    )
    chart_url: str | None = Field(
        default=None,
        description="public URL of the chart for Slack image blocks (else the bot uploads it)",
        examples=["https://reports.example.com/costagent.png"],
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="main currency (headline, chart); unset: the one with the most cost rows",
        examples=["EUR"],
    )
    email: EmailConfig | None = Field(
        default=None, description="mail the weekly report ([report.email])"
    )
    slack: SlackConfig | None = Field(
        default=None, description="post the weekly report to Slack ([report.slack])"
    )


JOB_NAMES = ("collect", "collect_metrics", "analyze", "report")
JobName = Literal["collect", "collect_metrics", "analyze", "report"]


class ScheduleConfig(_Strict):
    """``[schedule]``: when the daemon (``costagent run``) runs each job, in ``report.timezone``.

    Standard five-field crontab expressions (weekday 0 or 7 = Sunday, 1 = Monday), checked at
    load so a typo fails with the key's name instead of at 09:00 on Monday; ``"off"`` disables
    a job.  A sixth, leading field is the second (``"*/10 * * * * *"``: every 10 s), for tests
    and demos.
    """

    collect: str = Field(default="0 */6 * * *", description="billing sources (every 6 h)")
    collect_metrics: str = Field(
        default="15 * * * *",
        description="metrics / inventory sources (aws_metrics, aws_inventory, gcp_vertex), hourly",
    )
    analyze: str = Field(default="30 6 * * *", description="run the rules (daily)")
    report: str = Field(default="0 9 * * 1", description="build and send the weekly report")

    @field_validator("collect", "collect_metrics", "analyze", "report")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if value.strip().lower() == "off":
            return "off"
        try:
            cron_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc}): {value!r}") from None
        return value


class DaemonConfig(_Strict):
    """``[daemon]``: how ``costagent run`` behaves on an unattended host."""

    log_format: Literal["text", "json"] = Field(
        default="text", description="stdout log lines; json for journald / log shippers"
    )
    heartbeat_seconds: int = Field(
        default=30, ge=1, le=3600, description="how often the daemon proves it is alive"
    )
    lock_stale_seconds: int = Field(
        default=300,
        ge=5,
        description="a lock whose heartbeat is older than this is taken over by a new daemon",
    )
    misfire_grace_seconds: int = Field(
        default=6 * 3600,
        ge=1,
        description="a run missed (host asleep, daemon down) by less than this still runs, once",
    )
    stop_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        le=9,
        description="on SIGTERM, wait this long for a running job before abandoning it "
        "(at most 9: the daemon exits within 10 s of the signal whatever happens)",
    )
    retry_after_minutes: list[PositiveFloat] = Field(
        default_factory=lambda: [5.0, 15.0],
        max_length=10,
        description="retry a failed run after these delays (one per retry, counted from the "
        "failure), only within misfire_grace_seconds of its scheduled time; [] disables",
    )
    run_on_start: list[JobName] = Field(
        default_factory=list, description='jobs to run once right after start, e.g. ["collect"]'
    )
    check_failed_runs: int = Field(
        default=3, ge=1, description="`status --check` fails when a job failed this often in a row"
    )

    @model_validator(mode="after")
    def _stale_after_beats(self) -> DaemonConfig:
        if self.lock_stale_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "lock_stale_seconds must be at least twice heartbeat_seconds, or a live daemon's "
                "lock could be taken over"
            )
        return self


class AnalysisConfig(_Strict):
    """``[analysis]``: what the rules look at, for ``analyze``, ``compare`` and the daemon alike."""

    window_days: int = Field(
        default=30, ge=1, le=366, description="days of data the rules look at (ending today)"
    )


class LlmRequestsConfig(_Strict):
    """``[llm_requests]``: facts about the LLM request log and its prices, shared by every stage
    that reads the log.

    A gateway often logs a sample of its calls, and an enterprise agreement prices some models
    below list.  Both are properties of the log and the account, not of one rule or the report,
    so they are declared once here: every request-log rule takes them as its
    ``log_sample_rate`` and ``prices`` (a rule's own ``[rules.<id>]`` value still wins, per
    model for prices) and the report's unit costs use them too.
    """

    sample_rate: Decimal = Field(
        default=Decimal(1),
        gt=0,
        le=1,
        description="share of the LLM calls the request log holds (0.01 = 1 %; 1 = every call)",
    )
    prices: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "private prices per model id as logged: input / output / cache_read / cache_write "
            "per million tokens, currency (default USD); they win over the genai-prices table"
        ),
        examples=[{"anthropic.claude-3-5-sonnet-20240620-v1:0": {"input": 2.4, "output": 12}}],
    )

    @field_validator("prices")
    @classmethod
    def _valid_prices(cls, raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each price is checked against the rules' price model when the file loads."""
        from agent.store.llm_prices import ModelPrice

        for model, values in raw.items():
            try:
                ModelPrice.model_validate(values)
            except ValidationError as exc:
                raise ValueError(f"{model}.{first_problem(exc)}") from None
        return raw


class CoreSettings(BaseSettings):
    """The sections that are not plug-ins, plus ``COSTAGENT_*`` environment overrides."""

    model_config = SettingsConfigDict(
        env_prefix="COSTAGENT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database: DatabaseConfig = DatabaseConfig()
    classification: ClassificationConfig = ClassificationConfig()
    llm_requests: LlmRequestsConfig = LlmRequestsConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    report: ReportConfig = ReportConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    daemon: DaemonConfig = DaemonConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


def config_path(explicit: str | Path | None) -> Path | None:
    """The file to read: ``--config``, else ``$COSTAGENT_CONFIG``, else ./costagent.toml if any."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("COSTAGENT_CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def format_validation_error(err: ValidationError, origin: str) -> str:
    """One line per problem, each naming the dotted key, e.g. ``sources.0.bucket``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{origin}: {loc}: {describe(e)}")
    return "; ".join(parts)


def register_secrets(value: Any) -> None:
    """Tell :mod:`agent.redact` every ``SecretStr`` in a (nested) model, list or dict, so no
    log line, stored error or rendered output can carry one — whatever printed it."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        redact.register(secret, url=secret.startswith(("http://", "https://")))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            register_secrets(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            register_secrets(item)
    elif isinstance(value, dict):
        for item in value.values():
            register_secrets(item)


def make_url_password(url: str) -> str | None:
    """The password in a database URL, if any (``postgresql://user:pass@host/db``)."""
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
        return None if password is None else str(password)
    except Exception:
        return None
