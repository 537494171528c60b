"""Every path that queues frames for a socket session books them the same way (queue_frames).

The permission-filtered delivery (a wildcard subscription overlapping a subscribe deny
entry) used to write its frames and statistics by hand and forgot the allow-responses
record: a responder that got a request through such a subscription could not answer it.
Run against natskern and, when installed, nats-server with the equivalent configuration.
"""

from __future__ import annotations

import asyncio
import json

from natskern.kernel.core.session import RESERVED_REPLY_PREFIXES, is_reserved_reply

from tests.support.servers import raw_connect, serve

HANG = 5.0

USERS = [
    {
        "user": "svc",
        "password": "pw",
        "permissions": {
            "subscribe": {"allow": "svc.>", "deny": "svc.secret"},
            "allow_responses": True,
        },
    },
    {"user": "client", "password": "pw"},
]
CONF = """
authorization {
  users = [
    {user: svc, password: pw, permissions: {
      subscribe: {allow: "svc.>", deny: "svc.secret"}, allow_responses: true}}
    {user: client, password: pw}
  ]
}
"""


async def login(url: str, user: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await raw_connect(url)
    await asyncio.wait_for(reader.readline(), HANG)
    opts = {"verbose": False, "pedantic": False, "user": user, "pass": "pw"}
    writer.write(b"CONNECT %s\r\nPING\r\n" % json.dumps(opts).encode())
    assert await asyncio.wait_for(reader.readline(), HANG) == b"PONG\r\n"
    return reader, writer


async def ask(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], data: bytes) -> bytes:
    reader, writer = conn
    writer.write(data + b"PING\r\n")
    return await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG)


async def test_a_filtered_subscription_opens_the_reply_permission(kind: str) -> None:
    async with serve(kind, {"auth": {"users": USERS}}, CONF) as (url, broker):
        svc = await login(url, "svc")
        assert await ask(svc, b"SUB svc.> 1\r\n") == b"PONG\r\n"  # overlaps the deny entry
        client = await login(url, "client")
        request = b"SUB _INBOX.r.* 9\r\nPUB svc.secret _INBOX.r.0 1\r\nx\r\n"
        request += b"PUB svc.echo _INBOX.r.1 2\r\nhi\r\n"
        assert await ask(client, request) == b"PONG\r\n"
        # The denied subject is withheld; the other request arrives, and may be answered.
        assert await ask(svc, b"") == b"MSG svc.echo 1 _INBOX.r.1 2\r\nhi\r\nPONG\r\n"
        assert await ask(svc, b"PUB _INBOX.r.1 2\r\nok\r\n") == b"PONG\r\n"
        assert await ask(client, b"") == b"MSG _INBOX.r.1 9 2\r\nok\r\nPONG\r\n"
        if broker is not None:
            (session,) = (c for c in broker.clients.values() if c.user == "svc")
            assert (session.out_msgs, session.out_bytes) == (1, 2)
        for _, writer in (svc, client):
            writer.close()


def test_the_reserved_reply_rule() -> None:
    assert RESERVED_REPLY_PREFIXES == (b"_R_.", b"$JS.ACK.")
    assert is_reserved_reply(b"_R_.abc.def") and is_reserved_reply(b"$JS.ACK.s.c.1.1.1.1.0")
    assert not is_reserved_reply(b"_INBOX.x") and not is_reserved_reply(b"_R_")
