"""Helpers for the account export/import tests: one nats-server config, two servers.

Every scenario is written once in nats-server's config syntax.  It runs on natskern (the text
translated by ``natskern.natsconf``, as ``natskern-server`` does) and on the real nats-server
when it is installed, so the same assertions check both (the ``target`` fixture of this
directory's conftest).

Expected messages are awaited (``take``).  Checks that nothing else arrived never wait: the
publisher settles (the server has routed everything it sent), then the receiver settles (it
has received everything routed to it before), then the receiver's pending queue is read
(``received``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest
from nats.aio.subscription import Subscription
from natskern.kernel.errors import ConfigError

from natskern import Broker
from natskern.natsconf import parse_text, translate
from tests.support.servers import NATS_SERVER, free_port, nats_server, natskern

Serve = Callable[[str], contextlib.AbstractAsyncContextManager[str]]

#: Subjects of the markers ``settle`` sends itself.
SETTLE_PREFIX = "_SETTLE."

#: (subject, reply, data) of a received message.
Seen = tuple[str, str, bytes]


def natskern_config(conf_text: str) -> dict[str, Any]:
    """The natskern configuration of a nats-server config text, on a free loopback port."""
    model = translate(parse_text(conf_text, "accounts.conf"), source="accounts.conf")
    model["tcp"] = {"host": "127.0.0.1", "port": 0}
    return model


@contextlib.asynccontextmanager
async def serve_natskern(conf_text: str) -> AsyncIterator[str]:
    """natskern with ``conf_text``; yields ``127.0.0.1:port``."""
    async with natskern(natskern_config(conf_text)) as broker:
        yield broker.listen_urls[0].removeprefix("nats://")


@contextlib.asynccontextmanager
async def serve_nats_server(conf_text: str) -> AsyncIterator[str]:
    """The real nats-server with ``conf_text``; yields ``127.0.0.1:port``."""
    with nats_server(conf_text) as url:
        yield url.removeprefix("nats://")


async def connect(address: str, user: str, **kwargs: Any) -> nats.NATS:
    """A nats-py connection as ``user`` (whose password is the user name)."""
    return await nats.connect(f"nats://{user}:{user}@{address}", **kwargs)


def users(*names: str) -> str:
    """A ``users`` list where every password equals the user name."""
    return "[" + ", ".join(f"{{user: {n}, password: {n}}}" for n in names) + "]"


async def settle(*connections: nats.NATS) -> None:
    """Make sure the server has processed everything each connection sent, in order.

    nats-py 2.16's ``flush()`` is no barrier: it writes its PING straight to the socket,
    ahead of SUB/PUB commands still waiting in the client's buffer.  A message the
    connection publishes to itself travels the same buffer, so its arrival proves that
    everything sent before it was routed, and that every message routed to this
    connection before has been received.  ``take`` and ``received`` skip these markers
    (a ``>`` subscriber sees them too).
    """
    for nc in connections:
        inbox = SETTLE_PREFIX + nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(inbox, b"")
        await sub.next_msg(timeout=5)
        await sub.unsubscribe()


async def take(sub: Subscription, count: int) -> list[Seen]:
    """Wait for the next ``count`` messages of a subscription without a callback."""
    out: list[Seen] = []
    while len(out) < count:
        msg = await sub.next_msg(timeout=5)
        if not msg.subject.startswith(SETTLE_PREFIX):
            out.append((msg.subject, msg.reply, msg.data))
    return out


async def received(sub: Subscription) -> list[Seen]:
    """Everything queued on a subscription without a callback, in order (never waits)."""
    out: list[Seen] = []
    while sub.pending_msgs:
        msg = await sub.next_msg(timeout=1)
        if not msg.subject.startswith(SETTLE_PREFIX):
            out.append((msg.subject, msg.reply, msg.data))
    return out


def nats_server_refusal(conf_text: str) -> str:
    """What nats-server prints when it refuses to start with ``conf_text``."""
    assert NATS_SERVER is not None
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(conf_text)
    try:
        proc = subprocess.run(
            [NATS_SERVER, "-c", f.name, "-a", "127.0.0.1", "-p", str(free_port())],
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        os.unlink(f.name)
    assert proc.returncode != 0, "nats-server accepted the configuration"
    return proc.stderr


def natskern_refusal(conf_text: str) -> str:
    """The ConfigError natskern raises for ``conf_text`` (fails if it accepts it)."""
    with pytest.raises(ConfigError) as info:
        Broker(natskern_config(conf_text))
    return str(info.value)
