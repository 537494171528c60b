"""TLS for client connections: the ``[tls]`` section and the server-side SSL contexts.

nats-server's model (server/opts.go ``tls {}``, server/client.go): when the
client port has TLS, INFO goes out in plain text with ``tls_required: true``
and the client then starts TLS on the same socket; with ``handshake_first``
the TLS handshake comes before INFO.  ``verify`` demands a client certificate
signed by ``ca_file``.  A handshake that does not finish within ``timeout``
seconds closes the connection ("TLS Handshake Failure"), as does a client that
speaks plain text where TLS is expected.

This plugin only compiles the configuration: the TCP transport asks
:func:`tls_settings` for the compiled :class:`TlsSettings` and picks its
connection protocol accordingly; the WebSocket transport builds its own
context from its ``tls`` block with :func:`build_context`.
"""

from __future__ import annotations

import ssl
import sys
from dataclasses import dataclass
from typing import Any

from natskern.kernel import const
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.state import StateKey

#: nats-server's default TLS handshake timeout (seconds).
DEFAULT_TLS_TIMEOUT = 2.0

#: The certificate part of a ``tls`` block, shared with the WebSocket transport's ``tls``.
CERT_PROPERTIES: dict[str, Any] = {
    "cert_file": {"type": "string", "default": "", "description": "PEM server certificate"},
    "key_file": {"type": "string", "default": "", "description": "PEM private key"},
    "ca_file": {
        "type": "string",
        "default": "",
        "description": "PEM CA bundle that client certificates must chain to",
    },
    "verify": {
        "type": "boolean",
        "default": False,
        "description": "require and verify a client certificate",
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "TLS on the client port; enabled when cert_file is set.",
    "additionalProperties": False,
    "properties": {
        **CERT_PROPERTIES,
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": DEFAULT_TLS_TIMEOUT,
            "description": "seconds a client has to finish the TLS handshake",
        },
        "handshake_first": {
            "type": "boolean",
            "default": False,
            "description": "TLS handshake before INFO (clients must be told to do the same)",
        },
        "verify_and_map": {
            "type": "boolean",
            "default": False,
            "description": "verify, and log the client in as the user its certificate names"
            " (email SANs, DNS SANs, URI SANs, then the RFC 2253 subject)",
        },
        "verify_cert_and_check_known_urls": {
            "type": "boolean",
            "default": False,
            "description": "refused on the client port, as by nats-server",
        },
        "cert_store": {
            "type": "string",
            "default": "",
            "description": "Windows certificate store: refused on other systems",
        },
        "cert_match": {
            "type": "string",
            "default": "",
            "description": "Windows certificate store match: refused on other systems",
        },
    },
}


@dataclass(frozen=True)
class TlsSettings:
    """The compiled ``[tls]`` section: what the TCP transport needs per connection."""

    context: ssl.SSLContext
    verify: bool
    timeout: float
    handshake_first: bool
    #: ``verify_and_map``: the auth plugin maps the client certificate to a user.
    map_users: bool = False
    #: The context of the INFO-then-TLS upgrade: under ``verify`` it asks for a
    #: certificate without demanding it (one presented must still verify), so
    #: that a client without one can be told why it is refused
    #: (:class:`~natskern.plugins.transports._protocol.StartTlsProtocol`).
    upgrade_context: ssl.SSLContext | None = None

    def info(self) -> dict[str, Any]:
        """The INFO fields nats-server adds when the client port requires TLS."""
        fields: dict[str, Any] = {"tls_required": True}
        if self.verify:
            fields["tls_verify"] = True
        return fields


def build_context(
    section: dict[str, Any], where: str = "tls", *, optional_cert: bool = False
) -> ssl.SSLContext:
    """A server-side SSL context from a ``tls`` block (cert, key, optional CA and verify).

    With ``verify``, a client certificate is demanded by OpenSSL, or with
    ``optional_cert`` only asked for (``CERT_OPTIONAL``: one presented must
    verify; its absence is left to the caller to refuse).  Raises
    :class:`ConfigError` naming ``where`` when a file cannot be loaded.
    """
    cert, key = section.get("cert_file", ""), section.get("key_file", "")
    if not cert or not key:
        raise ConfigError(f"{where}: cert_file and key_file are both required")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # nats-server's (Go's) minimum
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{where}: cannot load cert_file {cert!r} / key_file {key!r}: {exc}"
        ) from None
    ca = section.get("ca_file", "")
    if ca:
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{where}: cannot load ca_file {ca!r}: {exc}") from None
    if section.get("verify"):
        if not ca:
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        context.verify_mode = ssl.CERT_OPTIONAL if optional_cert else ssl.CERT_REQUIRED
    return context


def check_unsupported(section: dict[str, Any], where: str = "tls") -> None:
    """Refuse what nats-server refuses in a client port's ``tls`` block, with its words."""
    if section.get("verify_cert_and_check_known_urls"):
        raise ConfigError(
            f"{where}: verify_cert_and_check_known_urls not supported in this context"
        )
    for key in ("cert_store", "cert_match"):
        if section.get(key):
            if sys.platform != "win32":
                raise ConfigError(f"{where}: {key} not compatible with current operating system")
            raise ConfigError(f"{where}: {key} (the Windows certificate store) is not supported")


def settings_from(section: dict[str, Any]) -> TlsSettings | None:
    """Compile a ``[tls]`` section; None when it configures no certificate (TLS off)."""
    check_unsupported(section)
    if not section.get("cert_file") and not section.get("key_file"):
        return None
    if section.get("verify_and_map"):
        section = {**section, "verify": True}  # mapping needs a verified certificate
    return TlsSettings(
        context=build_context(section),
        map_users=bool(section.get("verify_and_map")),
        verify=bool(section.get("verify")),
        timeout=float(section.get("timeout", DEFAULT_TLS_TIMEOUT)),
        handshake_first=bool(section.get("handshake_first")),
        upgrade_context=build_context(section, optional_cert=True),
    )


_SETTINGS: StateKey[TlsSettings] = StateKey("tls")


def tls_settings(broker: Any) -> TlsSettings | None:
    """The client port's TLS settings of ``broker``, or None when TLS is off."""
    return _SETTINGS.get(broker)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[tls]`` section."""
    return {"tls": SCHEMA}


@hookimpl(trylast=True)
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Load the certificates once; fail start-up on a bad file.

    Runs after the auth plugin so that, like nats-server, a TLS port whose
    authorization timeout was left at its default gets ``timeout + 1`` seconds.
    """
    settings = settings_from(config.get("tls", {}))
    if settings is None:
        return
    _SETTINGS.set(broker, settings)
    _lengthen_auth_timeout(broker, config, settings)


@hookimpl(trylast=True)
def reload(broker: Any, old: dict[str, Any], new: dict[str, Any], changes: Any) -> None:
    """The auth plugin's reload set the authorization timeout again: lengthen it again."""
    settings = _SETTINGS.get(broker)
    if settings is not None and changes.touches("auth"):
        _lengthen_auth_timeout(broker, new, settings)


def _lengthen_auth_timeout(broker: Any, config: dict[str, Any], settings: TlsSettings) -> None:
    auth_timeout = config.get("auth", {}).get("timeout", const.DEFAULT_AUTH_TIMEOUT)
    if auth_timeout == const.DEFAULT_AUTH_TIMEOUT:
        broker.auth_timeout = max(broker.auth_timeout, settings.timeout + 1.0)
