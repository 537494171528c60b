"""Lame-duck mode: leave gracefully so clients move elsewhere without a thundering herd.

nats-server's sequence (``lameDuckMode`` in server.go), reproduced here:

1. stop accepting new connections (the listeners close);
2. tell every client with an async ``INFO`` carrying ``"ldm": true`` (official
   clients raise their lame-duck callback and may reconnect elsewhere);
3. wait ``lame_duck_grace_period``;
4. close the remaining clients one by one, spread over the rest of
   ``lame_duck_duration`` (at most one second apart, at least half the slot);
5. shut down.

With no client connected, the broker shuts down at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.server import Broker

log = logging.getLogger("natskern")

#: The close reason lame-duck mode gives (nats-server's ``ServerShutdown``).
REASON = "Server Shutdown"


def ldm_info(broker: Broker, client: object) -> bytes:
    """The async INFO announcing lame-duck mode to ``client``."""
    info = broker.info(client)  # type: ignore[arg-type]
    info["ldm"] = True
    return b"INFO " + json.dumps(info, separators=(",", ":")).encode() + b" \r\n"


def close_interval(duration: float, grace: float, clients: int) -> float:
    """Seconds between two closes: the time left after the grace period, per client.

    Like nats-server: the remaining time is ``duration - grace`` (one second when
    that is not positive), divided by the number of clients, capped at one second.
    """
    remaining = duration - grace
    if remaining <= 0:
        remaining = 1.0
    return min(remaining / max(clients, 1), 1.0)


async def enter_lame_duck(broker: Broker) -> None:
    """Run lame-duck mode to the end: announce, wait, close clients gradually, stop."""
    if broker.lame_duck:
        return
    broker.lame_duck = True
    log.info("Entering lame duck mode, stop accepting new clients")
    for transport in list(broker.listeners):
        with contextlib.suppress(Exception):
            await transport.close()
    clients = [c for c in broker.clients.values() if not c.closed]
    if not clients:
        await broker.stop()
        return
    opts = broker.options
    duration, grace = opts["lame_duck_duration"], opts["lame_duck_grace_period"]
    interval = close_interval(duration, grace, len(clients))
    for client in clients:
        if client.connect_received and client.protocol >= 1:
            client.send(ldm_info(broker, client))
    await asyncio.sleep(grace)
    log.info("Closing existing clients")
    for i, client in enumerate(clients):
        if not client.closed:
            client.close(REASON)
        if i < len(clients) - 1:
            # A random pause of at least half the slot, so reconnects do not come in waves.
            await asyncio.sleep(max(random.uniform(0, interval), interval / 2))
    await broker.stop()
