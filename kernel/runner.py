"""Run a broker as a program: uvloop, logging, signals, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

from kernel.server import Broker

log = logging.getLogger("natskern")


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
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    root.propagate = False


async def serve(
    config: Mapping[str, Any],
    *,
    on_ready: Callable[[Broker], None] | None = None,
    plugins: tuple[object, ...] = (),
) -> None:
    """Start a broker, stop it cleanly on SIGINT/SIGTERM."""
    broker = Broker(config, plugins=plugins)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with broker:
        if on_ready is not None:
            on_ready(broker)
        waiter = asyncio.ensure_future(broker.serve_forever())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, stopper):
            task.cancel()
        log.info("Initiating Shutdown...")
    log.info("Server Exiting..")


def run_broker(
    config: Mapping[str, Any],
    *,
    on_ready: Callable[[Broker], None] | None = None,
    plugins: tuple[object, ...] = (),
) -> int:
    """Blocking: run a broker until SIGINT/SIGTERM; return the exit status."""
    logging_section = dict(config.get("logging", {}) or {})
    setup_logging(
        bool(logging_section.get("debug")),
        logtime=logging_section.get("logtime", True),
        file=logging_section.get("file", ""),
    )
    if install_uvloop():
        log.debug("using uvloop")
    pid_file = logging_section.get("pid_file")
    if pid_file:
        with open(pid_file, "w") as fh:
            fh.write(str(os.getpid()))
    try:
        asyncio.run(serve(config, on_ready=on_ready, plugins=plugins))
    except KeyboardInterrupt:
        pass
    finally:
        if pid_file:
            with contextlib.suppress(OSError):
                os.unlink(pid_file)
    return 0
