"""Run a broker as a program: uvloop, logging, signals, configuration reload, clean stop.

Signals, as nats-server handles them:

* ``SIGINT``: graceful stop (sessions flushed and closed, lifespans exited);
* ``SIGTERM``: the same, unless lame-duck mode is already under way (then ignored);
* ``SIGUSR2``: lame-duck mode (:mod:`natskern.kernel.lameduck`), then exit;
* ``SIGHUP``: reload the configuration (:func:`reload_config`) when the program
  said how to re-read it (``reload=``), otherwise log that it cannot;
* ``SIGUSR1``: reopen the log file (for log rotation).

The exit status is 0 after any of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from natskern import Broker
from natskern.kernel.errors import NatskernError
from natskern.kernel.lameduck import enter_lame_duck

log = logging.getLogger("natskern")

#: ``reload()`` returns the new raw configuration (it may raise to refuse).
Reloader = Callable[[], Mapping[str, Any]]

#: Top-level sections a reload may change; any other difference refuses the reload.
RELOADABLE = frozenset({"server", "auth", "accounts", "mappings", "logging"})
#: Keys inside reloadable sections that only a restart can change.
FIXED_KEYS = {"server": frozenset({"name"}), "auth": frozenset({"system_account"})}
#: Sections whose plugins are configured again when any of them changes.
_AUTH_SECTIONS = frozenset({"auth", "accounts", "mappings"})


def install_uvloop() -> bool:
    """Use uvloop's event loop when it is installed (NATSKERN_NO_UVLOOP=1 opts out)."""
    if os.environ.get("NATSKERN_NO_UVLOOP"):
        return False
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def setup_logging(debug: bool = False, *, logtime: bool = True, file: str = "") -> None:
    """nats-server-like log lines: ``[pid] time [INF] message``."""
    fmt = (
        f"[{os.getpid()}] "
        + ("%(asctime)s.%(msecs)03d " if logtime else "")
        + "[%(levelname).3s] %(message)s"
    )
    handler: logging.Handler = (
        logging.FileHandler(file) if file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y/%m/%d %H:%M:%S"))
    root = logging.getLogger("natskern")
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False


def _setup_logging_from(config: Mapping[str, Any]) -> None:
    section = dict(config.get("logging", {}) or {})
    setup_logging(
        bool(section.get("debug")),
        logtime=section.get("logtime", True),
        file=section.get("file", ""),
    )


# -- configuration reload -------------------------------------------------------------------


class ReloadError(NatskernError):
    """A reload was refused; the running configuration is unchanged."""


def _first_difference(old: Any, new: Any, path: str) -> tuple[str, Any, Any]:
    """The first (dotted key, old, new) where two config values differ."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}")
    return path, old, new


def _check_account_wiring(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Exports and imports are wired into the routing tries at start: a restart changes them."""
    for name in sorted(set(old) | set(new)):
        for key in ("exports", "imports"):
            was = (old.get(name) or {}).get(key)
            now = (new.get(name) or {}).get(key)
            if was != now:
                raise ReloadError(
                    f"config reload not supported for accounts.{name}.{key}: old={was}, new={now}"
                )


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What a reload from ``old`` to ``new`` changes, as nats-server logs it.

    Raises :class:`ReloadError` naming the first change only a restart can make.
    """
    changes: list[str] = []
    for section in sorted(set(old) | set(new)):
        before, after = old.get(section), new.get(section)
        if before == after:
            continue
        if section not in RELOADABLE:
            key, was, now = _first_difference(before, after, section)
            raise ReloadError(f"config reload not supported for {key}: old={was}, new={now}")
        if section == "accounts":
            _check_account_wiring(before or {}, after or {})
        before, after = before or {}, after or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key) and key in FIXED_KEYS.get(section, ()):
                raise ReloadError(
                    f"config reload not supported for {section}.{key}: "
                    f"old={before.get(key)}, new={after.get(key)}"
                )
        if section != "server":
            changes.append(section)
            continue
        changes.extend(
            f"{key} = {after.get(key)}"
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        )
    return changes


def _section_owners(broker: Broker) -> dict[str, str]:
    """Config section -> name of the plugin that owns it."""
    owners = {}
    for impl in broker.pm.hook.config_schema.get_hookimpls():
        for section in impl.function() or {}:
            owners[section] = impl.plugin_name
    return owners


def _reconfigure(broker: Broker, config: dict[str, Any]) -> None:
    """Run ``configure`` again for the plugins of auth, accounts and mappings."""
    pm = broker.pm
    owners = _section_owners(broker)
    names = {owners[s] for s in _AUTH_SECTIONS if s in owners}
    names |= {impl.plugin_name for impl in pm.hook.authenticate.get_hookimpls()}
    keep = [pm.get_plugin(name) for name in names]
    others = [p for _, p in pm.list_name_plugin() if p is not None and p not in keep]
    broker.auth_required = False
    broker.nonce_required = False
    for account in broker.accounts.values():
        account.mapper = None
    pm.subset_hook_caller("configure", remove_plugins=others)(broker=broker, config=config)


def _reauthorize(broker: Broker) -> None:
    """Check every session against the new users: drop the refused, re-permission the rest."""
    for client in list(broker.clients.values()):
        if client.closed or not client.connect_received:
            continue
        identity = broker.authenticate(client, client.connect_opts)
        if identity is None or identity.account != client.account.name:
            log.error(
                '%s:%d - cid:%d - authentication error - User "%s"',
                client.host,
                client.port,
                client.cid,
                client.user,
            )
            client.close("Authentication Failure", "Authorization Violation")
            continue
        client.rebind(identity)


def reload_config(
    broker: Broker, raw: Mapping[str, Any], *, plugins: tuple[object, ...] = ()
) -> list[str]:
    """Apply a new configuration to a running broker; return the changes made.

    The new configuration is first checked in full by building a throwaway
    broker (schema and every plugin's ``configure``).  Changes to the listen
    addresses, TLS, monitoring, clustering and the server name need a restart
    and refuse the whole reload (:class:`ReloadError`).  Otherwise limits apply
    to new connections, users and permissions apply at once (sessions whose
    credentials no longer pass are closed with ``Authorization Violation``),
    and logging is set up again.
    """
    try:
        checked = Broker(raw, plugins=plugins)
    except NatskernError as exc:
        raise ReloadError(str(exc)) from None
    new = checked.config
    changes = config_changes(broker.config, new)
    broker.config = new
    broker.options = new["server"]
    sections = {c for c in changes if " = " not in c}
    if sections & _AUTH_SECTIONS:
        _reconfigure(broker, new)
        _reauthorize(broker)
    if "logging" in sections:
        _setup_logging_from(new)
    record = broker.plugin_state.get("reload") or {"count": 0}
    broker.plugin_state["reload"] = {"time": time.time(), "count": record["count"] + 1}
    return changes


# -- running --------------------------------------------------------------------------------


class SignalHandlers:
    """The signal handlers of one running broker (see the module docstring)."""

    def __init__(
        self,
        broker: Broker,
        *,
        reload: Reloader | None = None,
        plugins: tuple[object, ...] = (),
    ) -> None:
        self.broker = broker
        self.reload = reload
        self.plugins = plugins
        self.stop = asyncio.Event()
        self.lame_duck_task: asyncio.Task[None] | None = None
        self._installed: list[int] = []

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Register the handlers with ``loop`` (where the platform allows it)."""
        handlers = {
            signal.SIGINT: self.on_interrupt,
            signal.SIGTERM: self.on_terminate,
            signal.SIGUSR2: self.on_lame_duck,
            signal.SIGHUP: self.on_reload,
            signal.SIGUSR1: self.on_reopen,
        }
        for sig, handler in handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                self._installed.append(sig)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the signals back to their default handling."""
        for sig in self._installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        self._installed.clear()

    def on_interrupt(self) -> None:
        """SIGINT: stop now (also cuts lame-duck mode short)."""
        self.stop.set()

    def on_terminate(self) -> None:
        """SIGTERM: stop, unless a lame-duck shutdown is already in progress."""
        if self.broker.lame_duck:
            log.debug("SIGTERM ignored: lame duck mode in progress")
            return
        self.stop.set()

    def on_lame_duck(self) -> None:
        """SIGUSR2: enter lame-duck mode (once)."""
        if self.lame_duck_task is None:
            self.lame_duck_task = asyncio.ensure_future(enter_lame_duck(self.broker))

    def on_reload(self) -> None:
        """SIGHUP: re-read and apply the configuration."""
        if self.reload is None:
            log.error("Failed to reload server configuration: no configuration file to re-read")
            return
        try:
            changes = reload_config(self.broker, self.reload(), plugins=self.plugins)
        except Exception as exc:  # a bad file or a refused change: keep running as before
            log.error("Failed to reload server configuration: %s", exc)
            return
        for change in changes:
            log.info("Reloaded: %s", change)
        log.info("Reloaded server configuration")

    def on_reopen(self) -> None:
        """SIGUSR1: reopen the log file (after rotation)."""
        _setup_logging_from(self.broker.config)
        log.info("File log re-opened")

    def cancel(self) -> None:
        """Cancel a lame-duck run that a stop overtook."""
        if self.lame_duck_task is not None and not self.lame_duck_task.done():
            self.lame_duck_task.cancel()


async def serve(
    config: Mapping[str, Any],
    *,
    on_ready: Callable[[Broker], None] | None = None,
    plugins: tuple[object, ...] = (),
    reload: Reloader | None = None,
) -> None:
    """Start a broker and run it until a stop signal or the end of lame-duck mode."""
    broker = Broker(config, plugins=plugins)
    loop = asyncio.get_running_loop()
    signals = SignalHandlers(broker, reload=reload, plugins=plugins)
    signals.install(loop)
    try:
        async with broker:
            if on_ready is not None:
                on_ready(broker)
            waiter = asyncio.ensure_future(broker.serve_forever())
            stopper = asyncio.ensure_future(signals.stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, stopper):
                task.cancel()
            signals.cancel()
            log.info("Initiating Shutdown...")
    finally:
        signals.uninstall(loop)
    log.info("Server Exiting..")


def run_broker(
    config: Mapping[str, Any],
    *,
    on_ready: Callable[[Broker], None] | None = None,
    plugins: tuple[object, ...] = (),
    reload: Reloader | None = None,
) -> int:
    """Blocking: run a broker until it is told to stop; return the exit status.

    ``reload`` re-reads the configuration for SIGHUP (None: reload unsupported).
    """
    _setup_logging_from(config)
    if install_uvloop():
        log.debug("using uvloop")
    pid_file = (config.get("logging", {}) or {}).get("pid_file")
    if pid_file:
        with open(pid_file, "w") as fh:
            fh.write(str(os.getpid()))
    try:
        asyncio.run(serve(config, on_ready=on_ready, plugins=plugins, reload=reload))
    except KeyboardInterrupt:
        pass
    finally:
        if pid_file:
            with contextlib.suppress(OSError):
                os.unlink(pid_file)
    return 0
