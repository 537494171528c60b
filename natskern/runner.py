"""Run a broker as a program: uvloop, logging, signals, configuration reload, clean stop.

Signals, as nats-server handles them:

* ``SIGINT``: graceful stop (sessions flushed and closed, lifespans exited);
* ``SIGTERM``: the same, unless lame-duck mode is already under way (then ignored);
* ``SIGUSR2``: lame-duck mode (:mod:`natskern.kernel.lameduck`), then exit;
* ``SIGHUP``: reload the configuration (:func:`reload_config`) when the program
  said how to re-read it (``reload=``), otherwise log that it cannot; what may
  change is declared by the plugins (their schemas and ``reload`` hooks), the
  runner knows no section but its own ``[logging]``;
* ``SIGUSR1``: reopen the log file (for log rotation).

The exit status is 0 after any of these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import signal
import stat
import sys
from collections.abc import Callable, Mapping
from typing import Any

from natskern import Broker
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.lameduck import enter_lame_duck
from natskern.kernel.reload import ReloadError, diff_configs

__all__ = [
    "LoggingReload",
    "ReloadError",
    "SignalHandlers",
    "config_changes",
    "reload_config",
    "run_broker",
    "serve",
]

log = logging.getLogger("natskern")

#: ``reload()`` returns the new raw configuration (it may raise to refuse).
Reloader = Callable[[], Mapping[str, Any]]


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


#: nats-server's level tags (``[DBG]``, ``[TRC]``...) by logging level.
LEVEL_TAGS = {5: "TRC", logging.DEBUG: "DBG", logging.INFO: "INF", logging.WARNING: "WRN",
              logging.ERROR: "ERR", logging.CRITICAL: "FTL"}  # fmt: skip


class _NatsFormatter(logging.Formatter):
    """Formats ``[pid] time [TAG] message`` with nats-server's level tags."""

    def format(self, record: logging.LogRecord) -> str:
        record.nats_level = LEVEL_TAGS.get(record.levelno, record.levelname[:3])
        return super().format(record)


#: Where the local syslog listens (Linux, macOS, FreeBSD).
SYSLOG_SOCKETS = ("/dev/log", "/var/run/syslog", "/var/run/log")


def _syslog_handler(remote: str) -> logging.Handler:
    """A handler for the local syslog (``remote`` empty) or ``udp://host:port``/``tcp://...``.

    A syslog that cannot be reached is refused with :class:`ConfigError` (never
    silently replaced by stderr).
    """
    import socket
    from logging.handlers import SysLogHandler
    from urllib.parse import urlparse

    if not remote:
        for path in SYSLOG_SOCKETS:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.stat(path).st_mode):
                    try:
                        return SysLogHandler(address=path)
                    except OSError as exc:
                        raise ConfigError(f"syslog: cannot open {path}: {exc}") from None
        raise ConfigError(
            "syslog: no local syslog socket on this system ("
            + ", ".join(SYSLOG_SOCKETS)
            + "); use --log FILE or --remote_syslog udp://host:port"
        )
    url = urlparse(remote if "://" in remote else f"udp://{remote}")
    if url.scheme not in ("udp", "tcp") or not url.hostname:
        raise ConfigError(
            f"remote_syslog: expected udp://host:port or tcp://host:port, got {remote!r}"
        )
    kind = socket.SOCK_DGRAM if url.scheme == "udp" else socket.SOCK_STREAM
    try:
        return SysLogHandler(address=(url.hostname, url.port or 514), socktype=kind)
    except OSError as exc:
        raise ConfigError(f"remote_syslog: cannot reach {remote}: {exc}") from None


def setup_logging(
    debug: bool = False,
    *,
    logtime: bool = True,
    file: str = "",
    trace: bool = False,
    syslog: bool = False,
    remote_syslog: str = "",
) -> None:
    """nats-server-like log lines: ``[pid] time [INF] message``.

    ``debug`` shows ``[DBG]`` lines (connections opening and closing...), ``trace``
    the protocol lines of every connection (``[TRC]``); ``syslog``/``remote_syslog``
    send the log to the local or a remote syslog instead of stderr or ``file``.
    """
    fmt = (
        f"[{os.getpid()}] "
        + ("%(asctime)s.%(msecs)03d " if logtime else "")
        + "[%(nats_level)s] %(message)s"
    )
    handler: logging.Handler
    if syslog or remote_syslog:
        handler = _syslog_handler(remote_syslog)
        handler.setFormatter(_NatsFormatter("[%(nats_level)s] %(message)s"))
    else:
        handler = logging.FileHandler(file) if file else logging.StreamHandler(sys.stderr)
        handler.setFormatter(_NatsFormatter(fmt, datefmt="%Y/%m/%d %H:%M:%S"))
    root = logging.getLogger("natskern")
    for old in root.handlers:
        if isinstance(old, logging.FileHandler | logging.handlers.SysLogHandler):
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(5 if trace else logging.DEBUG if debug else logging.INFO)
    root.propagate = False


def _setup_logging_from(config: Mapping[str, Any]) -> None:
    section = dict(config.get("logging", {}) or {})
    setup_logging(
        bool(section.get("debug")),
        logtime=section.get("logtime", True),
        file=section.get("file", ""),
        trace=bool(section.get("trace")),
        syslog=bool(section.get("syslog")),
        remote_syslog=section.get("remote_syslog", ""),
    )


# -- configuration reload -------------------------------------------------------------------


class LoggingReload:
    """The runner's own plugin: it set logging up from ``[logging]``, so it does it again.

    The runner uses the ``reload`` hook like any plugin; what is reloadable is said by
    the schema of each section's owner (:mod:`natskern.kernel.reload`), not here.
    """

    @hookimpl
    def reload(
        self, broker: Broker, old: dict[str, Any], new: dict[str, Any], changes: Any
    ) -> None:
        """Set logging up again when ``[logging]`` changed."""
        if changes.touches("logging"):
            _setup_logging_from(new)


def config_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> list[str]:
    """What a reload from ``old`` to ``new`` changes, as nats-server logs it.

    ``schema`` (default: the merged schema of the built-in plugins) says what may
    change; raises :class:`ReloadError` naming the first change only a restart can make.
    """
    if schema is None:
        schema = Broker({}, load_entrypoints=False).schema
    return list(diff_configs(old, new, dict(schema)).lines)


def reload_config(broker: Broker, raw: Mapping[str, Any]) -> list[str]:
    """Apply a new configuration to a running broker; return the changes made.

    The new configuration is first checked in full on a broker that is never started
    (schema and every plugin's ``configure``).  A change under a key its plugin did not
    mark reloadable (listen addresses, TLS, monitoring, clustering, the server name...)
    refuses the whole reload (:class:`ReloadError`).  Otherwise every plugin's
    ``reload`` hook applies its part: limits apply to new connections, users and
    permissions at once (sessions whose credentials no longer pass are closed with
    ``Authorization Violation``), logging is set up again.
    """
    return list(broker.reload(raw).lines)


# -- running --------------------------------------------------------------------------------


class SignalHandlers:
    """The signal handlers of one running broker (see the module docstring)."""

    def __init__(
        self,
        broker: Broker,
        *,
        reload: Reloader | None = None,
    ) -> None:
        self.broker = broker
        self.reload = reload
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
            changes = reload_config(self.broker, self.reload())
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
    broker = Broker(config, plugins=(*plugins, LoggingReload()))
    loop = asyncio.get_running_loop()
    signals = SignalHandlers(broker, reload=reload)
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
