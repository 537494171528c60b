"""A reliable barrier for nats-py connections in tests.

nats-py 2.16's ``flush()`` writes its PING straight to the socket, possibly ahead of
SUB/PUB commands still waiting in the client's own buffer, so the PONG does not prove
the server has seen them.  A message a connection publishes to itself travels through
the same buffer, so its arrival does.
"""

from __future__ import annotations

import nats


async def settle(*connections: nats.NATS) -> None:
    """Return once the server has processed everything each connection sent so far."""
    for nc in connections:
        if nc.options.get("no_echo"):
            # A no-echo connection never receives its own marker: two round trips, the
            # second PING queued behind everything the first one overtook.
            await nc.flush()
            await nc.flush()
            continue
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(inbox, b"")
        await sub.next_msg(timeout=5)
        await sub.unsubscribe()
