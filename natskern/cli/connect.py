"""Connection options: global flags + context file → a connected nats-py client.

:class:`ConnOptions` holds what the user typed (flags and ``NATS_*``
environment variables, already merged by click) and is stored in click's
``ctx.obj``.  :meth:`ConnOptions.resolve` loads the context (``--context``,
``NATS_CONTEXT`` or the selected one) and lets every given flag override the
matching context field.  :func:`connect` turns the result into nats-py
``connect`` keyword arguments (``nats://`` URLs, comma lists, ``unix://``
sockets, user/password, token, creds, nkey seed, inline JWT, TLS files) and
connects, raising :class:`~natskern.cli.runtime.CliError` with one clear line
when it cannot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from natskern.cli.context import Context, ContextError, load_context, selected_context
from natskern.cli.context import unselect_context as _unselect
from natskern.cli.output import go_quote, log
from natskern.cli.runtime import CliError
from natskern.cli.unix_transport import (
    PLACEHOLDER_URL,
    UnixSocketClient,
    is_unix_url,
    unix_socket_path,
)

__all__ = [
    "DEFAULT_NAME",
    "ConnOptions",
    "ConnSettings",
    "async_errors",
    "confirm_subscriptions",
    "connect",
    "connect_kwargs",
    "connected",
    "log_async_errors",
    "raise_async_error",
    "restore_case",
    "round_trip",
    "subscribe",
]

#: Connection name sent in CONNECT (natscli sends ``NATS CLI Version <ver>``).
DEFAULT_NAME = "natskern CLI"


@dataclass
class ConnSettings:
    """Final connection settings after context + flag resolution."""

    servers: list[str]
    user: str = ""
    password: str = ""
    token: str = ""
    creds: str = ""
    nkey: str = ""
    user_jwt: str = ""
    user_seed: str = ""
    cert: str = ""
    key: str = ""
    ca: str = ""
    tls_first: bool = False
    inbox_prefix: str = ""
    timeout: float = 5.0
    name: str = DEFAULT_NAME
    context: Context | None = None


@dataclass
class ConnOptions:
    """The global connection flags as typed; ``None`` means "not given"."""

    server: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None
    nkey: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None
    tlsca: str | None = None
    tls_first: bool | None = None
    timeout: float | None = None
    context: str | None = None
    no_context: bool = False
    inbox_prefix: str | None = None
    connection_name: str | None = None
    _resolved: ConnSettings | None = field(default=None, repr=False)

    def load_context(self) -> Context | None:
        """Load the context named by ``--context``/``NATS_CONTEXT`` or the selected one.

        An unknown explicit context is an error; a selected context that no
        longer exists is unselected with natscli's notice.
        """
        if self.no_context:
            return None
        if self.context:
            try:
                return load_context(self.context)
            except ContextError as exc:
                raise CliError(str(exc)) from None
        name = selected_context()
        if not name:
            return None
        try:
            return load_context(name)
        except ContextError:
            log(f'The selected context "{name}" was not found, unselecting it')
            _unselect()
            return None

    def resolve(self) -> ConnSettings:
        """Merge the context with the flags (flags win field by field)."""
        if self._resolved is not None:
            return self._resolved
        ctx = self.load_context()
        if ctx is not None:
            try:
                ctx.validate()
            except ContextError as exc:
                raise CliError(str(exc)) from None

        def pick(flag: str | None, key: str) -> str:
            if flag is not None:
                return flag
            return ctx.expanded(key) if ctx is not None else ""

        url = self.server if self.server else (ctx.server_url if ctx else "")
        servers = [u.strip() for u in (url or "nats://127.0.0.1:4222").split(",") if u.strip()]
        settings = ConnSettings(
            servers=servers,
            user=pick(self.user, "user"),
            password=pick(self.password, "password"),
            token=pick(self.token, "token"),
            creds=pick(self.creds, "creds"),
            nkey=pick(self.nkey, "nkey"),
            user_jwt=ctx.get("user_jwt") if ctx else "",
            user_seed=ctx.get("user_seed") if ctx else "",
            cert=pick(self.tlscert, "cert"),
            key=pick(self.tlskey, "key"),
            ca=pick(self.tlsca, "ca"),
            tls_first=bool(
                self.tls_first if self.tls_first is not None else ctx and ctx.get("tls_first")
            ),
            inbox_prefix=pick(self.inbox_prefix, "inbox_prefix"),
            timeout=self.timeout if self.timeout is not None else 5.0,
            name=self.connection_name or DEFAULT_NAME,
            context=ctx,
        )
        # natscli: a --user given without a password is a token.
        if self.user is not None and settings.user and not settings.password:
            settings.token, settings.user = settings.user, ""
        self._resolved = settings
        return settings


def _tls_context(settings: ConnSettings) -> ssl.SSLContext | None:
    """Build the client TLS context from the cert/key/CA files (must exist)."""
    for label, path in (("certificate", settings.cert), ("key", settings.key), ("CA", settings.ca)):
        if path and not os.path.isfile(path):
            raise CliError(f"TLS {label} file {go_quote(path)} does not exist")
    if (settings.cert or settings.key) and not (settings.cert and settings.key):
        raise CliError("TLS client authentication needs both --tlscert and --tlskey")
    wants_tls = settings.cert or settings.ca or settings.tls_first
    wants_tls = wants_tls or any(s.lower().startswith("tls://") for s in settings.servers)
    if not wants_tls:
        return None
    try:
        tls = ssl.create_default_context(cafile=settings.ca or None)
        if settings.cert:
            tls.load_cert_chain(settings.cert, settings.key)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"could not load TLS files: {exc}") from None
    return tls


def _jwt_callbacks(jwt: str, seed: str) -> dict[str, Any]:
    """Callbacks for an inline user JWT + nkey seed (context ``user_jwt``/``user_seed``)."""
    import nkeys

    def user_jwt_cb() -> bytes:
        return jwt.encode()

    def signature_cb(nonce: str) -> bytes:
        keypair = nkeys.from_seed(seed.encode())
        try:
            return base64.b64encode(keypair.sign(nonce.encode()))
        finally:
            keypair.wipe()

    return {"user_jwt_cb": user_jwt_cb, "signature_cb": signature_cb}


def connect_kwargs(settings: ConnSettings) -> dict[str, Any]:
    """Translate resolved settings into ``nats.aio.client.Client.connect`` kwargs."""
    kwargs: dict[str, Any] = {
        "servers": list(settings.servers),
        "name": settings.name,
        "connect_timeout": max(settings.timeout, 0.001),
        "allow_reconnect": False,
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0,
    }
    if settings.user:
        kwargs["user"] = settings.user
        kwargs["password"] = settings.password
    elif settings.creds:
        if not os.path.isfile(settings.creds):
            raise CliError(f"credentials file {go_quote(settings.creds)} does not exist")
        kwargs["user_credentials"] = settings.creds
    elif settings.nkey:
        if not os.path.isfile(settings.nkey):
            raise CliError(f"nkey seed file {go_quote(settings.nkey)} does not exist")
        kwargs["nkeys_seed"] = settings.nkey
    elif settings.user_jwt and settings.user_seed:
        kwargs.update(_jwt_callbacks(settings.user_jwt, settings.user_seed))
    if settings.token:
        kwargs["token"] = settings.token
    tls = _tls_context(settings)
    if tls is not None:
        kwargs["tls"] = tls
    if settings.tls_first:
        kwargs["tls_handshake_first"] = True
    if settings.inbox_prefix:
        kwargs["inbox_prefix"] = settings.inbox_prefix
    return kwargs


class _Events:
    """nats-py callbacks that report like natscli and remember async errors."""

    def __init__(self, log_errors: bool) -> None:
        self.log_errors = log_errors
        self.client: Client | None = None
        self.connected = False
        self.last_error: BaseException | None = None
        self.async_errors: list[BaseException] = []

    async def error_cb(self, exc: Exception) -> None:
        if self.client is not None and isinstance(exc, NatsError) and type(exc) is NatsError:
            # nats-py lowercases the whole -ERR text: give the subjects back their case.
            exc = NatsError(restore_case(str(exc), _subscribed(self.client)))
        self.last_error = exc
        if self.connected and not self._closed():
            self.async_errors.append(exc)
            if self.log_errors:
                log(f"Encountered error: {_describe(exc)}")

    def _closed(self) -> bool:
        return self.client is None or self.client.is_closed

    async def disconnected_cb(self) -> None:
        if self.connected and not self._closed():
            log("Disconnected, will attempt reconnect")

    async def reconnected_cb(self) -> None:
        log("Reconnected")


def _describe(exc: BaseException) -> str:
    """One-line description of a connection error."""
    text = str(exc).strip()
    if isinstance(exc, asyncio.TimeoutError | nats.errors.TimeoutError) or not text:
        text = text or type(exc).__name__
        if isinstance(exc, asyncio.TimeoutError | nats.errors.TimeoutError):
            text = "timeout"
    return text.splitlines()[0] if text else type(exc).__name__


async def connect(opts: ConnOptions | ConnSettings, *, log_errors: bool = True) -> Client:
    """Connect to NATS with the resolved options and return the nats-py client.

    ``unix:///path`` server URLs connect over the Unix socket.  Failures raise
    :class:`CliError` with one line naming the server(s) and the reason.  The
    returned client reconnects forever once connected, like natscli; its
    asynchronous errors are kept in ``client.cli_errors`` and, with
    ``log_errors``, logged as they happen (commands that report them as their
    own error pass ``False``).
    """
    settings = opts.resolve() if isinstance(opts, ConnOptions) else opts
    kwargs = connect_kwargs(settings)
    events = _Events(log_errors)
    kwargs.update(
        error_cb=events.error_cb,
        disconnected_cb=events.disconnected_cb,
        reconnected_cb=events.reconnected_cb,
    )
    unix = [s for s in settings.servers if is_unix_url(s)]
    if unix and len(unix) != len(settings.servers):
        raise CliError("cannot mix unix:// and network server URLs")
    client: Client
    if unix:
        try:
            path = unix_socket_path(unix[0])
        except ValueError as exc:
            raise CliError(str(exc)) from None
        client = UnixSocketClient(path)
        kwargs["servers"] = [PLACEHOLDER_URL]
    else:
        client = Client()
    events.client = client
    where = ", ".join(settings.servers)
    try:
        await client.connect(**kwargs)
    except (TimeoutError, nats.errors.NoServersError, OSError, NatsError) as exc:
        cause = events.last_error if events.last_error is not None else exc
        if isinstance(exc, nats.errors.NoServersError) and events.last_error is None:
            cause = exc
        raise CliError(f"could not connect to {where}: {_describe(cause)}") from None
    except ValueError as exc:
        raise CliError(f"invalid server URL {go_quote(where)}: {exc}") from None
    events.connected = True
    client.options["allow_reconnect"] = True
    client.options["max_reconnect_attempts"] = -1
    client.options["reconnect_time_wait"] = 2
    client.cli_errors = events.async_errors  # type: ignore[attr-defined]
    client.cli_events = events  # type: ignore[attr-defined]
    return client


def async_errors(client: Client) -> list[BaseException]:
    """Return the asynchronous errors (permissions violations...) seen so far."""
    return getattr(client, "cli_errors", [])


def log_async_errors(client: Client, enabled: bool = True) -> None:
    """Switch logging of the client's asynchronous errors on or off."""
    events = getattr(client, "cli_events", None)
    if events is not None:
        events.log_errors = enabled


async def round_trip(client: Client, timeout: float = 5.0) -> None:
    """Return once the server has processed everything sent so far.

    nats-py 2.16's ``flush()`` writes its PING straight to the socket while
    commands queued just before it (PUB, SUB) may still sit in the client's
    buffer, so the PONG can overtake them.  The first ``flush()`` pushes the
    buffer out (its flusher runs before any PONG can arrive); the second's
    PING then follows every earlier command on the wire.
    """
    timeout = max(timeout, 0.001)
    await client.flush(timeout=timeout)
    await client.flush(timeout=timeout)


@contextlib.asynccontextmanager
async def connected(opts: ConnOptions | ConnSettings) -> AsyncIterator[Client]:
    """:func:`connect` (asynchronous errors not logged), closing the client on the way out."""
    client = await connect(opts, log_errors=False)
    try:
        yield client
    finally:
        if not client.is_closed:
            await client.close()


def _subscribed(client: Client) -> list[str]:
    """The subjects of the client's current subscriptions."""
    subs = getattr(client, "_subs", {})
    return [sub.subject for sub in list(subs.values())]


def restore_case(text: str, subjects: Iterable[str]) -> str:
    """``text`` with each quoted subject of ``subjects`` written in its own case.

    nats-py lowercases the server's ``-ERR`` text (``permissions violation for
    subscription to "_inbox.6ijafp..."``); the subjects the command used are
    known, so every quoted occurrence that matches one of them case-insensitively
    is replaced by the original spelling.
    """
    for subject in sorted(set(subjects), key=len, reverse=True):
        if not subject:
            continue
        quoted = f'"{subject}"'
        text = re.sub(re.escape(quoted), quoted.replace("\\", "\\\\"), text, flags=re.IGNORECASE)
    return text


def raise_async_error(client: Client, *subjects: str) -> None:
    """Raise the first asynchronous error seen so far (a permissions violation...) as a
    :class:`CliError` with its first line.

    ``subjects`` (those the command published to) get their case back in the
    message, as the client's subscriptions already have (see :func:`restore_case`).
    """
    errors = async_errors(client)
    if errors:
        text = str(errors[0]).splitlines()[0] or type(errors[0]).__name__
        raise CliError(restore_case(text, subjects))


async def subscribe(client: Client, subject: str, **kwargs: Any) -> Subscription:
    """``client.subscribe(subject, **kwargs)``; an invalid subject raises :class:`CliError`."""
    try:
        return await client.subscribe(subject, **kwargs)
    except nats.errors.BadSubjectError:
        raise CliError(f"invalid subject {go_quote(subject)}") from None


async def confirm_subscriptions(client: Client, timeout: float) -> None:
    """Wait until the server has processed the subscriptions sent so far.

    A timeout or an asynchronous error (e.g. a permissions violation) raises :class:`CliError`.
    """
    try:
        await round_trip(client, timeout)
    except (TimeoutError, nats.errors.TimeoutError):
        raise CliError("timeout waiting for the server to confirm the subscription") from None
    raise_async_error(client)
