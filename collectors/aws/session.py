"""Everything AWS collectors share: config fields, sessions per account, clients, retries.

* Credentials come from the standard boto3 chain or a named ``profile``; with ``role_arns`` each
  role is assumed through STS (with ``external_id`` when given) and the collector runs once per
  account.  Keys and session tokens live only in boto3 objects: never in config dumps, logs,
  the database or error messages (errors pass through :func:`agent.redact.redact`).
* ``endpoint_url`` sends every call to one endpoint (moto, an S3-compatible store, a VPC
  endpoint).
* botocore's adaptive retry mode handles throttling and 5xx with client-side rate limiting;
  :func:`call` adds the project's own exponential backoff on top for the throttling codes AWS
  services spell differently, so a burst of 429/503 slows a run down instead of failing it.
* Every API call is counted per service (Cost Explorer bills each request).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError
from pydantic import Field, SecretStr, model_validator

from agent.redact import register
from collectors.base import SourceConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
    }
)


class AwsSourceConfig(SourceConfig):
    """Fields every AWS source takes."""

    region: str = Field("us-east-1", description="home region (S3 bucket, Cost Explorer)")
    regions: list[str] | None = Field(
        None, description="regions to scan; default [region]", examples=[["us-east-1"]]
    )
    endpoint_url: str | None = Field(
        None,
        description="send every call here (S3-compatible stores, VPC endpoints, tests)",
        examples=["http://127.0.0.1:5000"],
    )
    profile: str | None = Field(
        None,
        description="a profile of the shared AWS config; default: the standard boto3 chain",
        examples=["billing"],
    )
    role_arns: list[str] = Field(
        default_factory=list,
        description="roles assumed through STS, one run per member account",
        examples=[["arn:aws:iam::111122223333:role/costagent-read"]],
    )
    external_id: SecretStr | None = Field(
        None, description="for role_arns, if their trust policy requires one"
    )
    max_attempts: int = Field(8, ge=1, le=20, description="botocore attempts per call")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait of our own backoff")
    backoff_attempts: int = Field(5, ge=1, le=20, description="how often our backoff retries")

    @model_validator(mode="after")
    def _regions(self) -> AwsSourceConfig:
        if self.regions is not None and not self.regions:
            raise ValueError("regions must name at least one region")
        return self

    @property
    def all_regions(self) -> list[str]:
        return list(self.regions) if self.regions else [self.region]


@dataclass
class Account:
    """One account to collect: a boto3 session (own or assumed role) and its label."""

    session: boto3.session.Session
    label: str  # the role ARN, or "default"


@dataclass
class AwsContext:
    """Sessions, clients and the request count of one collector run."""

    config: AwsSourceConfig
    requests: Counter[str] = field(default_factory=Counter)
    _base: boto3.session.Session | None = None

    def base_session(self) -> boto3.session.Session:
        if self._base is None:
            self._base = boto3.session.Session(
                profile_name=self.config.profile, region_name=self.config.region
            )
        return self._base

    def accounts(self) -> Iterator[Account]:
        """The base account, or every assumed role when ``role_arns`` is set."""
        if not self.config.role_arns:
            yield Account(self.base_session(), "default")
            return
        sts = self.client("sts", self.config.region, self.base_session())
        for arn in self.config.role_arns:
            params: dict[str, Any] = {"RoleArn": arn, "RoleSessionName": "costagent"}
            if self.config.external_id is not None:
                params["ExternalId"] = self.config.external_id.get_secret_value()
            creds = call(self, sts.assume_role, **params)["Credentials"]
            for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
                register(creds[key])  # nothing printed from here on can carry them
            yield Account(
                boto3.session.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=self.config.region,
                ),
                arn,
            )

    def client(
        self, service: str, region: str, session: boto3.session.Session | None = None
    ) -> Any:
        session = session or self.base_session()
        client = session.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.config.endpoint_url,
            config=Config(
                retries={"mode": "adaptive", "max_attempts": self.config.max_attempts},
                user_agent_extra="costagent",
                connect_timeout=10,
                read_timeout=60,
            ),
        )
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.requests[model.service_model.service_name] += 1

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def is_throttling(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return err.get("Code") in THROTTLING_CODES or status == 429 or status >= 500
    return isinstance(exc, ConnectionError | EndpointConnectionError)


def call(ctx: AwsContext, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``fn(**kwargs)`` with exponential backoff (and jitter) on throttling and 5xx."""
    wait = ctx.config.backoff_seconds
    for attempt in range(1, ctx.config.backoff_attempts + 1):
        try:
            return fn(**kwargs)
        except Exception as exc:
            if attempt == ctx.config.backoff_attempts or not is_throttling(exc):
                raise
            log.info("throttled (%s); retrying in %.1fs", type(exc).__name__, wait)
            time.sleep(wait * (0.5 + random.random() / 2))
            wait *= 2
    raise AssertionError("unreachable")


def pages(
    ctx: AwsContext,
    fn: Callable[..., dict[str, Any]],
    token_in: str,
    token_out: str,
    /,
    **kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """Follow a ``NextToken``-style pagination, each page through :func:`call`."""
    token: str | None = None
    while True:
        params = dict(kwargs)
        if token:
            params[token_in] = token
        page = call(ctx, fn, **params)
        yield page
        token = page.get(token_out)
        if not token:
            return
