"""The report on Slack: an incoming webhook and/or a bot posting to a channel with the chart.

A webhook can only post a message (text + blocks).  The bot posts the same message with
``chat.postMessage`` and then uploads the chart PNG to the same channel (``files_upload_v2``:
getUploadURLExternal → POST the bytes → completeUploadExternal).  Each step is retried on its own,
so a failed chart upload never posts the message twice.  slack_sdk's own retry handlers are
switched off: the retry policy (and its count) is ours, including HTTP 429 ``Retry-After``.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from agent.config import SlackConfig
from agent.notify.retry import DeliveryError, Retrier
from agent.notify.secrets import redacting_logger, require_env_secret, reveal
from agent.redact import redact
from agent.report.rendered import RenderedReport

# Slack ``error`` codes worth another try; every other ``ok: false`` is a configuration problem.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
HINTS = {
    "channel_not_found": "check report.slack.channel (and that the bot can see it)",
    "not_in_channel": "invite the bot to the channel",
    "invalid_auth": "the bot token is not valid",
    "not_authed": "the bot token is not valid",
    "token_revoked": "the bot token was revoked",
    "account_inactive": "the bot token belongs to a deactivated app or user",
}


def send_webhook(
    rendered: RenderedReport, config: SlackConfig, retrier: Retrier, details: dict[str, Any]
) -> None:
    """Post the message to the incoming webhook whose URL is in ``config.webhook_url_env``."""
    env = config.webhook_url_env or "SLACK_WEBHOOK_URL"
    url = require_env_secret(env, "Slack webhook URL")
    secrets = reveal((url,))
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DeliveryError(f"the value of {env} is not an http(s) URL", transient=False)
    details["host"] = parts.hostname
    client = WebhookClient(
        url.get_secret_value(),
        timeout=int(config.timeout),
        logger=redacting_logger(__name__ + ".webhook", secrets),
        retry_handlers=[],
    )

    def attempt() -> None:
        try:
            response = client.send(text=rendered.slack_text, blocks=rendered.slack_blocks or None)
        except (urllib.error.URLError, OSError) as exc:
            raise _unreachable(f"Slack webhook host {parts.hostname}", exc, secrets) from None
        except Exception as exc:  # anything else slack_sdk raises: keep the URL out of it
            raise _unexpected("Slack webhook", exc, secrets) from None
        _check_webhook(response, secrets)

    retrier.run("Slack webhook", attempt)


def send_bot(
    rendered: RenderedReport, config: SlackConfig, retrier: Retrier, details: dict[str, Any]
) -> None:
    """Post the message with the bot token, then upload the chart to the same channel."""
    env = config.token_env or "SLACK_BOT_TOKEN"
    token = require_env_secret(env, "Slack bot token")
    secrets = reveal((token,))
    kwargs: dict[str, Any] = {}
    if config.api_base_url:
        kwargs["base_url"] = config.api_base_url
    client = WebClient(
        token=token.get_secret_value(),
        timeout=int(config.timeout),
        logger=redacting_logger(__name__ + ".bot", secrets),
        retry_handlers=[],
        **kwargs,
    )
    channel = config.channel or ""
    posted = retrier.run(
        "Slack chat.postMessage",
        lambda: _call(
            "chat.postMessage",
            lambda: client.chat_postMessage(
                channel=channel, text=rendered.slack_text, blocks=rendered.slack_blocks or None
            ),
            secrets,
        ),
    )
    channel_id = str(posted.get("channel") or channel)
    details.update(channel_id=channel_id, ts=posted.get("ts"))
    if not rendered.chart_png:
        return
    png = rendered.chart_png
    try:
        uploaded = retrier.run(
            "Slack chart upload",
            lambda: _call(
                "files_upload_v2",
                lambda: client.files_upload_v2(
                    channel=channel_id,
                    file=png,
                    filename=rendered.chart_filename,
                    title=rendered.subject,
                ),
                secrets,
            ),
        )
    except DeliveryError as exc:
        raise DeliveryError(
            f"message posted, but the chart upload failed: {exc}", transient=exc.transient
        ) from None
    file = uploaded.get("file")
    if isinstance(file, Mapping):
        details["file_id"] = file.get("id")


def _call(
    method: str, request: Callable[[], SlackResponse], secrets: tuple[str, ...]
) -> SlackResponse:
    """One Web API call; Slack's failures become a ``DeliveryError`` saying what to fix."""
    try:
        return request()
    except SlackApiError as exc:
        raise _api_error(method, exc.response, secrets) from None
    except urllib.error.HTTPError as exc:  # the upload POST to upload_url
        raise DeliveryError(
            redact(f"Slack {method}: HTTP {exc.code} from the upload URL", secrets),
            transient=exc.code == 429 or exc.code >= 500,
            retry_after=_retry_after(exc.headers),
        ) from None
    except SlackRequestError as exc:
        raise DeliveryError(redact(f"Slack {method}: {exc}", secrets), transient=True) from None
    except (urllib.error.URLError, OSError) as exc:
        raise _unreachable(f"Slack API ({method})", exc, secrets) from None
    except Exception as exc:  # anything else slack_sdk raises: keep the token out of it
        raise _unexpected(f"Slack {method}", exc, secrets) from None


def _api_error(method: str, response: SlackResponse, secrets: tuple[str, ...]) -> DeliveryError:
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    message = f"Slack {method}: {error}"
    if error == "missing_scope" and data.get("needed"):
        message += f" (the bot needs the {data['needed']} scope)"
    elif error in HINTS:
        message += f" ({HINTS[error]})"
    elif status != 200:
        message += f" (HTTP {status})"
    transient = status == 429 or status >= 500 or error in TRANSIENT_ERRORS
    return DeliveryError(
        redact(message, secrets), transient=transient, retry_after=_retry_after(response.headers)
    )


def _check_webhook(response: WebhookResponse, secrets: tuple[str, ...]) -> None:
    status = response.status_code
    if status == 200:
        return
    body = " ".join(str(response.body or "").split())[:200]
    raise DeliveryError(
        redact(f"Slack webhook: HTTP {status} {body}".rstrip(), secrets),
        transient=status == 429 or status >= 500,
        retry_after=_retry_after(response.headers),
    )


def _unreachable(what: str, exc: BaseException, secrets: tuple[str, ...]) -> DeliveryError:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
    return DeliveryError(redact(f"cannot reach {what}: {reason}", secrets), transient=True)


def _unexpected(what: str, exc: Exception, secrets: tuple[str, ...]) -> DeliveryError:
    return DeliveryError(redact(f"{what}: {type(exc).__name__}: {exc}", secrets), transient=False)


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (any case; slack_sdk gives lists or strings)."""
    if not headers:
        return None
    for key in headers:
        if str(key).lower() == "retry-after":
            value = headers[key]
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None
