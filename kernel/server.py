"""The broker: composition from plugins and config, lifecycle, sessions, accounts.

``Broker`` is what an application embeds (``async with Broker(config) as b``)
and what ``natskern serve`` runs.  It owns one plugin manager, the accounts,
the live sessions and the per-iteration flush of their output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from natskern.kernel import const
from natskern.kernel.config import merge_schemas, validate
from natskern.kernel.core.accounts import Account, Identity
from natskern.kernel.core.client import Client
from natskern.kernel.core.transport import Connection, Listener
from natskern.kernel.errors import ConfigError, PluginError
from natskern.kernel.plugins import PluginSpec, implementations, make_plugin_manager
from natskern.kernel.registry import (
    mapping_function_registry,
    storage_backend_registry,
    transport_registry,
)
from natskern.kernel.reload import ConfigChanges, reload_broker

log = logging.getLogger("natskern")

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_server_id() -> str:
    """A random NKEY-like server id: 'N' + 55 base32 characters."""
    return "N" + "".join(secrets.choice(_B32) for _ in range(55))


#: The listener protocol's former name (it lives in :mod:`natskern.kernel.core.transport`).
Transport = Listener


class Broker:
    """A NATS broker: the kernel plus the plugins its configuration selects.

    Construct it with a configuration dict (validated against the schema the
    plugins contribute), extra plugin objects, and whether to load entry-point
    plugins.  ``async with broker:`` starts the transports and lifespans in the
    running event loop and drains and stops them on exit.

    The kernel's broker loads only the essential plugins and what it is handed;
    ``natskern.Broker`` is this class with the built-in plugins as defaults.
    """

    #: Built-in plugins loaded unless blocked, as (name, module) pairs.
    default_plugins: ClassVar[Sequence[PluginSpec]] = ()

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        plugins: Iterable[object] = (),
        load_entrypoints: bool | None = None,
    ) -> None:
        raw = dict(config or {})
        #: What a configuration check builds its throwaway broker with (:meth:`check_config`).
        self._plugins: list[object] = list(plugins)
        self._load_entrypoints = load_entrypoints
        block = (
            raw.get("plugins", {}).get("block", [])
            if isinstance(raw.get("plugins"), Mapping)
            else []
        )
        self.pm = make_plugin_manager(
            defaults=self.default_plugins,
            block=block,
            load_entrypoints=load_entrypoints,
            plugins=plugins,
        )
        self.schema = merge_schemas(self._schema_fragments())
        self.config = validate(raw, self.schema)
        self.options: dict[str, Any] = self.config["server"]
        self.server_id = new_server_id()
        self.server_name = self.options["name"] or self.server_id
        self.transports = transport_registry().collect(self.pm)
        self.storage_backends = storage_backend_registry().collect(self.pm)
        self.mapping_functions = mapping_function_registry().collect(self.pm)
        self.accounts: dict[str, Account] = {}
        self.global_account = self.get_account(const.GLOBAL_ACCOUNT)
        self.system_account_name = const.SYSTEM_ACCOUNT
        #: Who demands credentials (``require_auth``): source -> whether it needs a nonce.
        self.auth_demands: dict[str, bool] = {}
        #: Demands that INFO does not advertise (a ``no_auth_user`` lets clients in without
        #: credentials: nats-server then sends no ``auth_required``).
        self.auth_unadvertised: set[str] = set()
        #: Set by :meth:`reauthorize` during a reload: sessions are checked once after it.
        self.reauthorize_pending = False
        self.auth_timeout = const.DEFAULT_AUTH_TIMEOUT
        self.first_ping_delay = const.FIRST_PING_DELAY
        self.clients: dict[int, Client] = {}
        self.listeners: list[Listener] = []
        self.info_extra: dict[str, Any] = {}
        #: Per-plugin state (plugins are modules: no instance to hang it on); read and write
        #: it through a typed :class:`natskern.kernel.state.StateKey`.
        self.plugin_state: dict[str, Any] = {}
        self.start_time = time.time()
        self.lame_duck = False
        self.stats_slow_consumers = 0
        self.total_connections = 0
        self._next_cid = 0
        self._dirty: list[Client] = []
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._stopped: asyncio.Event | None = None
        self.pm.hook.configure(broker=self, config=self.config)
        self.get_account(self.system_account_name).system = True

    # -- composition --------------------------------------------------------------------------

    def _schema_fragments(self) -> list[tuple[str, Mapping[str, Any]]]:
        fragments = []
        for owner, call in implementations(self.pm.hook.config_schema):
            sections = call()
            if sections:
                if not isinstance(sections, Mapping):
                    raise PluginError(f"plugin {owner!r}: config_schema must return a dict")
                fragments.append((owner, sections))
        return fragments

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Add a plugin after construction (an embedding application's own components).

        Its registrations are collected at once; it cannot contribute config
        sections any more (the configuration is already validated).
        """
        self.pm.register(plugin, name=name)
        self._plugins.append(plugin)
        self.pm.check_pending()
        self.transports.collect(self.pm, plugin=plugin)
        self.storage_backends.collect(self.pm, plugin=plugin)
        self.mapping_functions.collect(self.pm, plugin=plugin)

    # -- accounts and auth --------------------------------------------------------------------

    def get_account(self, name: str) -> Account:
        """The account called ``name``, created on first use."""
        account = self.accounts.get(name)
        if account is None:
            account = self.accounts[name] = Account(name)
        return account

    @property
    def auth_required(self) -> bool:
        """Whether clients must authenticate (some plugin called :meth:`require_auth`)."""
        return bool(self.auth_demands)

    @property
    def nonce_required(self) -> bool:
        """Whether INFO carries a nonce (some auth method signs it)."""
        return any(self.auth_demands.values())

    def require_auth(
        self, *, nonce: bool = False, source: str = "", advertise: bool = True
    ) -> None:
        """Called by auth plugins from ``configure``: clients must authenticate.

        ``source`` names the demand, so that a plugin's ``reload`` can take back its own
        with :meth:`release_auth` without dropping another plugin's.  ``advertise=False``
        keeps ``auth_required`` out of INFO (nats-server with a ``no_auth_user``).
        """
        self.auth_demands[source] = self.auth_demands.get(source, False) or nonce
        if advertise:
            self.auth_unadvertised.discard(source)
        else:
            self.auth_unadvertised.add(source)

    def release_auth(self, source: str = "") -> None:
        """Withdraw the credential demand ``source`` made (from a ``reload`` hook)."""
        self.auth_demands.pop(source, None)
        self.auth_unadvertised.discard(source)

    def authenticate(self, client: Client, options: dict[str, Any]) -> Identity | None:
        """Ask the auth plugins; None means refused."""
        answer = self.pm.hook.authenticate(broker=self, client=client, options=options)
        if answer is None:
            if self.auth_required:
                return None
            return Identity(account=const.GLOBAL_ACCOUNT)
        if answer is False:
            return None
        if not isinstance(answer, Identity):
            raise PluginError(
                f"authenticate returned {answer!r}, expected an Identity, None or False"
            )
        return answer

    # -- sessions -----------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the broker runs in."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def next_client_id(self) -> int:
        """A fresh connection id (nats-server's ``cid``)."""
        self._next_cid += 1
        return self._next_cid

    def info(self, client: Client | None = None, **extra: Any) -> dict[str, Any]:
        """The INFO object for ``client`` (nats-server's field names and order)."""
        info: dict[str, Any] = {
            "server_id": self.server_id,
            "server_name": self.server_name,
            "version": const.ADVERTISED_VERSION,
            "proto": const.PROTO_VERSION,
            "go": f"python{sys.version_info.major}.{sys.version_info.minor}",
            "host": self.info_extra.get("host", "0.0.0.0"),
            "port": self.info_extra.get("port", 0),
            "headers": True,
            "max_payload": self.options["max_payload"],
        }
        info.update(self.info_extra)
        if self.auth_required and not self.auth_unadvertised.issuperset(self.auth_demands):
            info["auth_required"] = True
        if client is not None:
            info["client_id"] = client.cid
            if client.host:
                info["client_ip"] = client.host
        if self.lame_duck:
            info["ldm"] = True
        info.update(extra)
        return info

    def accept(
        self,
        transport: Connection,
        conn_type: str = "STANDARD",
        info: dict[str, Any] | None = None,
    ) -> Client | None:
        """Create the session for a new connection and send INFO.

        ``transport`` is the connection's byte pipe (any
        :class:`~natskern.kernel.core.transport.Connection`; the contract is in
        that module).  Returns None (after telling the client why and closing
        ``transport``) when the broker refuses it.
        """
        client = Client(self, transport, conn_type=conn_type)
        extra = dict(info or {})
        if self.nonce_required:
            extra["nonce"] = secrets.token_urlsafe(11)
            client.nonce = extra["nonce"]
        line = (
            b"INFO "
            + json.dumps(self.info(client, **extra), separators=(",", ":")).encode()
            + b" \r\n"
        )
        if self.lame_duck or len(self.clients) >= self.options["max_connections"]:
            client.send(line)
            client.close("Max Connections", "maximum connections exceeded")
            return None
        self.clients[client.cid] = client
        self.total_connections += 1
        self.global_account.clients.add(client)
        client.start(line)
        return client

    def session_opened(self, client: Client) -> None:
        """A client finished CONNECT."""
        self.pm.hook.on_session_opened(client=client)

    def session_closed(self, client: Client, reason: str) -> None:
        """A client is gone."""
        self.clients.pop(client.cid, None)
        client.account.clients.discard(client)
        self.pm.hook.on_session_closed(client=client, reason=reason)

    def mark_dirty(self, client: Client) -> None:
        """Schedule ``client``'s output for the flush at the end of this loop iteration."""
        self._dirty.append(client)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self.flush_dirty)

    def dirty_bytes(self) -> int:
        """Bytes queued by the sessions waiting for the end-of-iteration flush."""
        return sum(client.pending for client in self._dirty)

    def flush_dirty(self) -> None:
        """Write out every session with queued output now (else done once per iteration)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        dirty = self._dirty
        self._dirty = []
        for client in dirty:
            client.flush()

    # -- configuration ------------------------------------------------------------------------

    def check_config(self, config: Mapping[str, Any]) -> Broker:
        """Validate ``config`` as a start would, short of starting: a broker never started.

        The same class, plugins and entry-point setting as this broker; the schema and
        every plugin's ``configure`` run (which is why ``configure`` opens nothing).
        Raises :class:`ConfigError` (or :class:`PluginError`) as the constructor does.
        """
        return type(self)(config, plugins=self._plugins, load_entrypoints=self._load_entrypoints)

    def reload(self, config: Mapping[str, Any]) -> ConfigChanges:
        """Apply a new raw configuration while running; return the ``ConfigChanges``.

        See :func:`natskern.kernel.reload.reload_broker`: raises
        :class:`~natskern.kernel.reload.ReloadError` and changes nothing when the new
        configuration is invalid or changes a key only a restart can change.
        """
        return reload_broker(self, config)

    def reauthorize(self) -> None:
        """Ask, from a ``reload`` hook, for every session to be checked against the auth again.

        Done once, after every plugin's ``reload`` ran: sessions whose credentials no
        longer pass are closed with ``Authorization Violation``, the others get their
        new permissions.
        """
        self.reauthorize_pending = True

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Enter every plugin lifespan, then bind every enabled transport."""
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        try:
            # Services first (JetStream, monitoring), as nats-server starts JetStream before
            # it accepts clients: the first client already finds $JS.API answering.
            for cm in self.pm.hook.lifespan(broker=self):
                if cm is not None:
                    await self._stack.enter_async_context(cm)
            for name, factory in self.transports.items():
                transport = factory(self, self.config.get(name, {}))
                if transport is None:
                    continue
                await transport.start()
                self.listeners.append(transport)
                self._stack.push_async_callback(transport.close)
                log.info("Listening for %s client connections on %s", name, transport.listen_url)
            if not self.listeners:
                log.info("No transport enabled: in-process clients only")
        except BaseException:
            await self._stack.aclose()
            raise
        log.info("Server is ready")

    @property
    def listen_urls(self) -> list[str]:
        """Where clients can connect, one URL per running transport."""
        return [t.listen_url for t in self.listeners]

    async def stop(self, *, drain_timeout: float = 5.0) -> None:
        """Stop accepting, flush and close every session, exit lifespans in reverse order."""
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        for transport in list(self.listeners):
            with contextlib.suppress(Exception):
                await transport.close()
        await self._close_sessions(drain_timeout)
        await stack.aclose()
        self.listeners.clear()
        if self._stopped is not None:
            self._stopped.set()

    async def _close_sessions(self, timeout: float) -> None:
        for client in list(self.clients.values()):
            client.flush()
            client.close("Server Shutdown")
        deadline = time.monotonic() + timeout
        while self.clients and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def serve_forever(self) -> None:
        """Wait until :meth:`stop` is called."""
        if self._stopped is None:
            raise RuntimeError("the broker is not started")
        await self._stopped.wait()

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def connect(self, name: str = "", account: str | None = None):  # type: ignore[no-untyped-def]
        """An in-process client on the same router, no sockets (``kernel/core/inprocess.py``)."""
        from natskern.kernel.core.inprocess import InProcessClient

        return InProcessClient(self, name=name, account=account)

    # -- helpers for transports ---------------------------------------------------------------

    def advertise(self, host: str, port: int) -> None:
        """Record the first TCP listener's address for INFO's ``host``/``port``."""
        self.info_extra.setdefault("host", host)
        self.info_extra.setdefault("port", port)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (for tests and ``port = -1``)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


__all__ = ["Broker", "ConfigError", "Transport", "free_port"]
