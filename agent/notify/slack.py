"""The report on Slack: an incoming webhook and/or a bot posting to a channel with the chart.

A webhook can only post a message (text + blocks), not upload a file, so its chart is an image
block pointing at a PNG the daemon publishes itself: with ``chart_dir`` + ``chart_base_url`` the
week's chart is written to ``chart_dir/costagent-<week>.png`` (a new name each week, so Slack's
image cache never shows last week's chart) and linked as ``chart_base_url/costagent-<week>.png``.
The bot posts the same message with ``chat.postMessage`` and then uploads the chart PNG into the
message's thread (``files_upload_v2``: getUploadURLExternal → POST the bytes →
completeUploadExternal) — unless the message already shows the chart from ``[report] chart_url``,
so the chart never appears twice.  Each step is retried on its own, so a failed chart upload
never posts the message twice.  slack_sdk's own retry handlers are switched off: the retry policy
(and its count) is ours, including HTTP 429 ``Retry-After``.
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.error
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from agent.config import SlackConfig
from agent.notify.retry import DeliveryError, PartlyDelivered, Retrier
from agent.redact import redact
from agent.report.rendered import RenderedReport
from agent.report.slack import MAX_BLOCKS
from agent.secrets import redacting_logger, require_env_secret, reveal

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
CHART_ALT = "Daily spend by workload, 8 weeks"


class MessageRefused(DeliveryError):
    """Slack answered the webhook with HTTP 400: it will not take this message as it is
    (``invalid_blocks``, e.g. an image it could not fetch) — sending it again cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


def chart_filename(period: str) -> str:
    """``costagent-2026-W43.png``: one name per report week (only safe characters kept)."""
    return f"costagent-{re.sub(r'[^A-Za-z0-9_-]', '_', period)}.png"


def publish_chart(rendered: RenderedReport, config: SlackConfig) -> str | None:
    """Write the week's chart into ``chart_dir`` and return its public URL (None: nothing to do).

    Written to a temporary file in the same directory, then renamed over the target, so the web
    server publishing ``chart_dir`` never serves a half-written PNG; world-readable because that
    server usually runs as another user.  Raises ``DeliveryError`` (permanent) naming the path.
    """
    if config.chart_dir is None or config.chart_base_url is None or not rendered.chart_png:
        return None
    name = chart_filename(rendered.period)
    directory = config.chart_dir.expanduser()
    target = directory / name
    if not directory.is_dir():
        raise DeliveryError(f"chart_dir {directory} is not a directory", transient=False)
    try:
        _write_atomically(target, rendered.chart_png)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DeliveryError(
            f"cannot write the chart to {target}: {reason}", transient=False
        ) from None
    return f"{config.chart_base_url.rstrip('/')}/{quote(name)}"


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def with_chart_image(blocks: list[dict[str, Any]], url: str) -> list[dict[str, Any]]:
    """``blocks`` showing the chart at ``url``: an existing image block is re-pointed, else one is
    added before the first divider (where the renderer puts it); a message already at Slack's
    50-block limit gets a link in its footer instead."""
    image = {"type": "image", "image_url": url, "alt_text": CHART_ALT}
    for i, block in enumerate(blocks):
        if block.get("type") == "image":
            return [*blocks[:i], {**block, "image_url": url}, *blocks[i + 1 :]]
    if len(blocks) < MAX_BLOCKS:
        at = next((i for i, b in enumerate(blocks) if b.get("type") == "divider"), len(blocks))
        return [*blocks[:at], image, *blocks[at:]]
    *body, footer = blocks
    elements = [*footer.get("elements", []), {"type": "mrkdwn", "text": f"<{url}|chart>"}]
    return [*body, {**footer, "elements": elements}]


def _has_image(blocks: list[dict[str, Any]]) -> bool:
    return any(b.get("type") == "image" for b in blocks)


def _sdk_timeout(seconds: float) -> int:
    """slack_sdk annotates ``timeout`` as int, but only hands it to ``urlopen``/the socket, which
    take float seconds; ``int()`` would turn 0.5 into 0 — a non-blocking socket that fails at
    once — so the float is passed through unchanged."""
    return cast(int, seconds)


def send_webhook(
    rendered: RenderedReport, config: SlackConfig, retrier: Retrier, details: dict[str, Any]
) -> None:
    """Post the message to the incoming webhook whose URL is in ``config.webhook_url_env``.

    With ``chart_dir`` the chart is published first (Slack fetches the image while accepting the
    message).  If publishing fails, or Slack refuses the message with the image but takes it
    without, the report still goes out and the delivery fails saying why the chart is missing.
    """
    env = config.webhook_url_env or "SLACK_WEBHOOK_URL"
    url = require_env_secret(env, "Slack webhook URL")
    secrets = reveal((url,))
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DeliveryError(f"the value of {env} is not an http(s) URL", transient=False)
    details["host"] = parts.hostname
    client = WebhookClient(
        url.get_secret_value(),
        timeout=_sdk_timeout(config.timeout),
        logger=redacting_logger(__name__ + ".webhook", secrets),
        retry_handlers=[],
    )

    def post(blocks: list[dict[str, Any]]) -> None:
        try:
            response = client.send(text=rendered.slack_text, blocks=blocks or None)
        except (urllib.error.URLError, OSError) as exc:
            raise _unreachable(f"Slack webhook host {parts.hostname}", exc, secrets) from None
        except Exception as exc:  # anything else slack_sdk raises: keep the URL out of it
            raise _unexpected("Slack webhook", exc, secrets) from None
        _check_webhook(response, secrets)

    try:
        chart_url = publish_chart(rendered, config)
    except DeliveryError as exc:
        retrier.run("Slack webhook", lambda: post(rendered.slack_blocks))
        raise PartlyDelivered(f"message posted without the chart: {exc}") from None
    if chart_url is None:
        retrier.run("Slack webhook", lambda: post(rendered.slack_blocks))
        return
    details["chart_url"] = chart_url
    try:
        retrier.run(
            "Slack webhook", lambda: post(with_chart_image(rendered.slack_blocks, chart_url))
        )
    except MessageRefused as exc:
        retrier.run("Slack webhook", lambda: post(rendered.slack_blocks))  # without the image
        raise PartlyDelivered(
            f"message posted without the chart: Slack refused it with the image {chart_url} "
            f"({exc}); check that chart_base_url serves chart_dir publicly"
        ) from None


def send_bot(
    rendered: RenderedReport, config: SlackConfig, retrier: Retrier, details: dict[str, Any]
) -> None:
    """Post the message with the bot token, then upload the chart into the message's thread."""
    env = config.token_env or "SLACK_BOT_TOKEN"
    token = require_env_secret(env, "Slack bot token")
    secrets = reveal((token,))
    kwargs: dict[str, Any] = {}
    if config.api_base_url:
        kwargs["base_url"] = config.api_base_url
    client = WebClient(
        token=token.get_secret_value(),
        timeout=_sdk_timeout(config.timeout),
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
    ts = posted.get("ts")
    details.update(channel_id=channel_id, ts=ts)
    if not rendered.chart_png or _has_image(rendered.slack_blocks):
        return  # no chart, or the message shows it from chart_url already
    png = rendered.chart_png
    thread = str(ts) if ts else None  # beside the report, not loose in the channel
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
                    alt_txt=CHART_ALT,
                    thread_ts=thread,
                ),
                secrets,
            ),
        )
    except DeliveryError as exc:
        raise PartlyDelivered(f"message posted, but the chart upload failed: {exc}") from None
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
    errors = data.get("errors")
    if error == "missing_scope" and data.get("needed"):
        message += f" (the bot needs the {data['needed']} scope)"
    elif errors and isinstance(errors, list):  # invalid_blocks & co. say which block is wrong
        message += f" ({'; '.join(str(e) for e in errors[:3])})"
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
    if status == 400:
        raise MessageRefused(redact(f"Slack webhook: HTTP 400 {body}".rstrip(), secrets))
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
