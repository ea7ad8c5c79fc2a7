"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the email delivery tests.

Variants: plain, STARTTLS (required), implicit TLS (SMTPS), each optionally with AUTH for one
test user.  The certificate is self-signed for 127.0.0.1, generated per session; clients trust
it through ``ca_file``, so TLS verification stays on in tests.  ``fail_next`` makes the next
DATA commands answer with the given SMTP replies (e.g. ``451 try later``); ``refuse_rcpt`` makes
the next RCPT TO of an address answer with the given replies (e.g. ``451`` then accepted).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "report-bot"
SMTP_PASSWORD = "s3cret-Pa55word-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for CN/SAN 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None  # the authenticated user, if the client logged in
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)  # SMTP replies for the next DATAs
    logins: list[str] = field(default_factory=list)
    refuse_rcpt: dict[str, list[str]] = field(default_factory=dict)  # address → next replies
    rcpt_replies: list[tuple[str, str]] = field(default_factory=list)  # (address, reply) sent

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        queued = self.refuse_rcpt.get(address)
        reply = queued.pop(0) if queued else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        self.rcpt_replies.append((address, reply))
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_next:
            return self.fail_next.pop(0)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
                login,
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class SmtpPeer:
    host: str
    port: int
    handler: RecordingHandler
    ca_file: Path | None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


@contextmanager
def smtp_server(tmp_path: Path, *, tls: str = "none", auth: bool = False) -> Iterator[SmtpPeer]:
    """An SMTP server: ``tls`` is ``none``, ``starttls`` (required) or ``ssl`` (SMTPS)."""
    handler = RecordingHandler()
    port = free_port()
    kwargs: dict[str, Any] = {}
    ca_file = None
    if tls != "none":
        cert, key = self_signed_cert(tmp_path)
        ca_file = cert
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(cert, key)
        if tls == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=server_ctx)
    if auth:
        kwargs.update(
            authenticator=handler.authenticate,
            auth_required=True,
            auth_require_tls=tls == "starttls",
        )
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpPeer("127.0.0.1", port, handler, ca_file)
    finally:
        controller.stop()
