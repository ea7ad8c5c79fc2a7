"""Everything GCP collectors share: config fields, credentials, client options, retries.

* Credentials: application default credentials (``gcloud auth application-default login``,
  ``GOOGLE_APPLICATION_CREDENTIALS``, the metadata server), or a service-account key file named
  by ``credentials_file``.  Only the *path* is configuration: the key is read by google-auth into
  its credentials object and never stored, logged or copied into run records (errors pass through
  :func:`agent.redact.redact`).  ``anonymous = true`` sends no credentials at all: for emulators
  and the test servers, never for Google.
* ``api_endpoints`` overrides the endpoint per API (``bigquery``, ``billing``, ``monitoring``,
  ``aiplatform``): private service connect endpoints, regional endpoints, local emulators.
* Retries: 429 and 5xx (and dropped connections) are retried with exponential backoff and jitter
  by :func:`retry` (google-api-core's own machinery, given to every call and every page), so a
  burst of throttling slows a run down instead of failing it.
* Requests are counted per API for the run record.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from pydantic import Field, model_validator

from collectors.base import SourceConfig

log = logging.getLogger(__name__)

Api = Literal["bigquery", "billing", "monitoring", "aiplatform"]
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TRANSIENT = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    ConnectionError,
)


class GcpSourceConfig(SourceConfig):
    """Fields every GCP source takes."""

    credentials_file: Path | None = Field(
        None,
        description="service-account key JSON (mode 0400); default: application default "
        "credentials",
        examples=["/etc/costagent/gcp-key.json"],
    )
    anonymous: bool = Field(False, description="no credentials (emulators and tests only)")
    quota_project: str | None = Field(
        None, description="project billed for API quota / jobs", examples=["acme-billing"]
    )
    api_endpoints: dict[Api, str] = Field(
        default_factory=dict, description="per-API endpoint override, e.g. bigquery = 'http://…'"
    )
    timeout_seconds: float = Field(120.0, gt=0, description="per request")
    backoff_seconds: float = Field(1.0, ge=0, description="first wait after a 429/5xx")
    backoff_max_seconds: float = Field(60.0, gt=0, description="longest single wait")
    retry_deadline_seconds: float = Field(600.0, gt=0, description="give up retrying after")

    @model_validator(mode="after")
    def _one_auth(self) -> GcpSourceConfig:
        if self.anonymous and self.credentials_file is not None:
            raise ValueError("credentials_file and anonymous = true exclude each other")
        if self.credentials_file is not None and not self.credentials_file.is_file():
            raise ValueError(
                f"credentials_file {self.credentials_file} does not exist "
                "(give the path of a service-account key JSON, or drop it to use ADC)"
            )
        return self


@dataclass
class GcpContext:
    """Credentials, client options and the request count of one collector run."""

    config: GcpSourceConfig
    requests: Counter[str] = field(default_factory=Counter)
    _credentials: Any = None
    _project: str | None = None

    def credentials(self) -> Any:
        """google-auth credentials; resolved once per run, never logged."""
        if self._credentials is None:
            if self.config.anonymous:
                from google.auth.credentials import AnonymousCredentials

                self._credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
            elif self.config.credentials_file is not None:
                from google.oauth2 import service_account

                creds = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    str(self.config.credentials_file), scopes=SCOPES
                )
                self._credentials, self._project = creds, creds.project_id
            else:
                import google.auth

                self._credentials, self._project = google.auth.default(scopes=SCOPES)
            if self.config.quota_project and hasattr(self._credentials, "with_quota_project"):
                self._credentials = self._credentials.with_quota_project(self.config.quota_project)
        return self._credentials

    @property
    def project(self) -> str | None:
        """The project jobs run in: ``quota_project``, else the credentials' own project."""
        self.credentials()
        return self.config.quota_project or self._project

    def endpoint(self, api: Api) -> str | None:
        return self.config.api_endpoints.get(api)

    def client_options(self, api: Api) -> ClientOptions:
        endpoint = self.endpoint(api)
        return ClientOptions(api_endpoint=endpoint) if endpoint else ClientOptions()

    def retry(self) -> gretry.Retry:
        return retry(self.config)

    def count(self, api: str, n: int = 1) -> None:
        self.requests[api] += n

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


def is_transient(exc: BaseException) -> bool:
    """429, 5xx and dropped connections: worth another try."""
    if isinstance(exc, TRANSIENT):
        return True
    try:
        import requests

        return isinstance(exc, requests.ConnectionError | requests.Timeout)
    except ImportError:  # pragma: no cover - requests comes with google-auth
        return False


def _on_error(exc: BaseException) -> None:
    log.info("transient GCP error (%s); retrying", type(exc).__name__)


def retry(config: GcpSourceConfig) -> gretry.Retry:
    """Exponential backoff with jitter on transient errors, bounded by the deadline."""
    return gretry.Retry(
        predicate=is_transient,
        initial=max(config.backoff_seconds, 0.01),
        maximum=config.backoff_max_seconds,
        multiplier=2.0,
        timeout=config.retry_deadline_seconds,
        on_error=_on_error,
    )
