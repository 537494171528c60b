"""Per-user publish/subscribe permissions (issue #2 item 6): allow and deny lists,
queue-restricted entries, ``allow_responses``, default permissions.

Raw sessions check the exact ``-ERR`` bytes and that the connection stays open;
nats-py checks that its error callback receives them.  Each test runs against
natskern and, when installed, nats-server with the equivalent configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats
import pytest

from natskern import Broker
from tests.support.servers import raw_connect
from tests.support.servers import serve as serve_either
from tests.support.sync import settle

HANG = 5.0


def pub_violation(subject: str) -> bytes:
    """The -ERR line for a denied publish."""
    return b"-ERR 'Permissions Violation for Publish to \"%s\"'\r\n" % subject.encode()


def sub_violation(subject: str, queue: str = "") -> bytes:
    """The -ERR line for a denied subscription."""
    text = f'Permissions Violation for Subscription to "{subject}"'
    if queue:
        text += f' using queue "{queue}"'
    return b"-ERR '%s'\r\n" % text.encode()


def serve(
    kind: str, users: list[dict[str, Any]], conf_text: str, **auth: Any
) -> contextlib.AbstractAsyncContextManager[tuple[str, Broker | None]]:
    """natskern with ``users`` in ``[auth]`` or nats-server with ``conf_text``."""
    return serve_either(kind, {"auth": {"users": users, **auth}}, conf_text)


class Raw:
    """A raw, authenticated, quiet session."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def login(cls, url: str, user: str, password: str = "pw") -> Raw:
        """Connect and authenticate as ``user``."""
        reader, writer = await raw_connect(url)
        await asyncio.wait_for(reader.readline(), HANG)
        opts = {"verbose": False, "pedantic": False, "user": user, "pass": password}
        writer.write(b"CONNECT %s\r\nPING\r\n" % json.dumps(opts).encode())
        assert await asyncio.wait_for(reader.readline(), HANG) == b"PONG\r\n"
        return cls(reader, writer)

    async def ask(self, data: bytes) -> bytes:
        """Send ``data`` and a PING; everything received up to the PONG (still open)."""
        self.writer.write(data + b"PING\r\n")
        return await asyncio.wait_for(self.reader.readuntil(b"PONG\r\n"), HANG)

    def close(self) -> None:
        """Disconnect."""
        self.writer.close()


async def connect(url: str, user: str, errors: list[str] | None = None) -> nats.NATS:
    """nats-py as ``user``; errors reported to the callback land in ``errors``."""

    async def on_error(e: Exception) -> None:
        if errors is not None:
            errors.append(str(e))

    return await nats.connect(
        url, user=user, password="pw", allow_reconnect=False, error_cb=on_error
    )


async def wait_for(condition: Any) -> None:
    """Poll ``condition()`` until true; the timeout only turns a hang into a failure."""
    deadline = asyncio.get_running_loop().time() + HANG
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition never became true")
        await asyncio.sleep(0.01)


# -- publish and subscribe allow/deny ------------------------------------------------------------

ORDERS_USERS: list[dict[str, Any]] = [
    {
        "user": "clerk",
        "password": "pw",
        "permissions": {
            "publish": {"allow": ["orders.>", "_INBOX.>"], "deny": ["orders.secret"]},
            "subscribe": {"allow": ["updates.*", "_INBOX.>"], "deny": ["updates.hidden"]},
        },
    },
    {"user": "boss", "password": "pw"},
]
ORDERS_CONF = """
authorization {
  users = [
    {user: clerk, password: pw, permissions: {
      publish: {allow: ["orders.>", "_INBOX.>"], deny: "orders.secret"}
      subscribe: {allow: ["updates.*", "_INBOX.>"], deny: "updates.hidden"}
    }}
    {user: boss, password: pw}
  ]
}
"""


async def test_publish_permissions(kind: str) -> None:
    async with serve(kind, ORDERS_USERS, ORDERS_CONF) as (url, _):
        boss = await Raw.login(url, "boss")
        assert await boss.ask(b"SUB > 1\r\n") == b"PONG\r\n"
        clerk = await Raw.login(url, "clerk")
        got = await clerk.ask(
            b"PUB orders.new 1\r\n1\r\n"
            b"PUB orders.secret 1\r\n2\r\n"
            b"PUB billing 1\r\n3\r\n"
            b"PUB orders 1\r\n4\r\n"  # "orders.>" needs at least one more token
            b"PUB orders.a.b 1\r\n5\r\n"
        )
        assert got == (
            pub_violation("orders.secret")
            + pub_violation("billing")
            + pub_violation("orders")
            + b"PONG\r\n"
        )
        # Only what was allowed went out; the boss (no restrictions) saw exactly that.
        got = await boss.ask(b"PUB marker 1\r\nm\r\n")
        assert got == (
            b"MSG orders.new 1 1\r\n1\r\nMSG orders.a.b 1 1\r\n5\r\nMSG marker 1 1\r\nm\r\nPONG\r\n"
        )
        clerk.close()
        boss.close()


def messages(data: bytes) -> list[bytes]:
    """The MSG frames in ``data`` (short payloads without CRLF), sorted; then the rest.

    Several subscriptions of one connection matching the same message get their
    copies in an order that depends on the routing trie (nats-server puts ``>``
    first, then literals, then ``*``): that order is not part of the contract.
    """
    lines = data.split(b"\r\n")
    frames, rest, i = [], [], 0
    while i < len(lines):
        if lines[i].startswith(b"MSG "):
            frames.append(lines[i] + b"|" + lines[i + 1])
            i += 2
        else:
            rest.append(lines[i])
            i += 1
    return sorted(frames) + rest


async def test_subscribe_permissions(kind: str) -> None:
    async with serve(kind, ORDERS_USERS, ORDERS_CONF) as (url, _):
        clerk = await Raw.login(url, "clerk")
        got = await clerk.ask(
            b"SUB updates.a 1\r\n"
            b"SUB updates.hidden 2\r\n"
            b"SUB orders.new 3\r\n"
            b"SUB * 4\r\n"
            b"SUB updates.* 5\r\n"  # allowed, but overlaps the denied updates.hidden
            b"SUB updates.a q 6\r\n"  # queue subscriptions follow the same lists
        )
        assert got == (
            sub_violation("updates.hidden")
            + sub_violation("orders.new")
            + sub_violation("*")
            + b"PONG\r\n"
        )
        boss = await Raw.login(url, "boss")
        await boss.ask(
            b"PUB updates.a 1\r\na\r\nPUB updates.hidden 1\r\nh\r\n"
            b"PUB orders.new 1\r\no\r\nPUB updates.b 1\r\nb\r\n"
        )
        # updates.hidden is withheld from the wildcard subscription too.
        assert messages(await clerk.ask(b"")) == [
            b"MSG updates.a 1 1|a",
            b"MSG updates.a 5 1|a",
            b"MSG updates.a 6 1|a",
            b"MSG updates.b 5 1|b",
            b"PONG",
            b"",
        ]
        clerk.close()
        boss.close()


async def test_wildcard_wider_than_the_allow_list_is_refused() -> None:
    """natskern only: a subscription must lie inside an allow entry.

    nats-server 2.9.10 differs here on purpose-worthy grounds: it matches the
    subscription's subject against the allow list as if it were literal, so with
    ``allow: "updates.*"`` it accepts ``SUB updates.>`` and then delivers
    ``updates.b.c``, which the allow list does not cover.  natskern refuses it.
    """
    async with serve("natskern", ORDERS_USERS, ORDERS_CONF) as (url, _):
        clerk = await Raw.login(url, "clerk")
        got = await clerk.ask(b"SUB updates.> 1\r\nSUB updates.*.* 2\r\nSUB updates.* 3\r\n")
        assert got == sub_violation("updates.>") + sub_violation("updates.*.*") + b"PONG\r\n"
        boss = await Raw.login(url, "boss")
        await boss.ask(b"PUB updates.b.c 1\r\nx\r\nPUB updates.b 1\r\ny\r\n")
        assert await clerk.ask(b"") == b"MSG updates.b 3 1\r\ny\r\nPONG\r\n"
        clerk.close()
        boss.close()


async def test_verbose_acknowledges_only_what_is_allowed(kind: str) -> None:
    async with serve(kind, ORDERS_USERS, ORDERS_CONF) as (url, _):
        reader, writer = await raw_connect(url)
        await reader.readline()
        writer.write(
            b'CONNECT {"verbose":true,"pedantic":true,"user":"clerk","pass":"pw"}\r\n'
            b"PUB billing 1\r\nx\r\n"
            b"PUB orders.x 1\r\ny\r\n"
            b"SUB nope 1\r\n"
            b"SUB updates.x 2\r\n"
            b"PUB orders.* 1\r\nz\r\n"  # pedantic complains, the permission admits it
            b"PING\r\n"
        )
        got = await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG)
        assert got == (
            b"+OK\r\n"  # CONNECT
            + pub_violation("billing")  # instead of +OK
            + b"+OK\r\n"
            + sub_violation("nope")
            + b"+OK\r\n"
            + b"-ERR 'Invalid Publish Subject'\r\n+OK\r\n"
            + b"PONG\r\n"
        )
        writer.close()


async def test_reply_subject_needs_no_subscribe_permission(kind: str) -> None:
    """A reply subject names where answers go; the publisher need not receive them."""
    async with serve(kind, ORDERS_USERS, ORDERS_CONF) as (url, _):
        boss = await Raw.login(url, "boss")
        await boss.ask(b"SUB orders.* 1\r\n")
        clerk = await Raw.login(url, "clerk")
        assert await clerk.ask(b"PUB orders.new elsewhere.x 1\r\nq\r\n") == b"PONG\r\n"
        assert await boss.ask(b"") == b"MSG orders.new 1 elsewhere.x 1\r\nq\r\nPONG\r\n"
        clerk.close()
        boss.close()


async def test_violations_reach_the_nats_py_error_callback(kind: str) -> None:
    async with serve(kind, ORDERS_USERS, ORDERS_CONF) as (url, _):
        errors: list[str] = []
        nc = await connect(url, "clerk", errors)
        await nc.publish("billing", b"x")
        await nc.subscribe("orders.new")
        await nc.flush()
        # (nats-py's flush() PING can overtake the PUB and SUB: wait for the -ERRs)
        await wait_for(lambda: len(errors) >= 2)
        # nats-py lower-cases the server's text before handing it over.
        assert errors == [
            'nats: permissions violation for publish to "billing"',
            'nats: permissions violation for subscription to "orders.new"',
        ]
        # The connection stays open and what is allowed still works.
        assert nc.is_connected
        sub = await nc.subscribe("updates.x")
        await settle(nc)
        boss = await connect(url, "boss")
        await boss.publish("updates.x", b"fine")
        assert (await sub.next_msg(timeout=HANG)).data == b"fine"
        await boss.close()
        await nc.close()


async def test_request_reply_within_permissions(kind: str) -> None:
    async with serve(kind, ORDERS_USERS, ORDERS_CONF) as (url, _):
        boss = await connect(url, "boss")

        async def answer(msg: Any) -> None:
            await msg.respond(b"ok:" + msg.data)

        await boss.subscribe("orders.place", cb=answer)
        await settle(boss)
        clerk = await connect(url, "clerk")
        reply = await clerk.request("orders.place", b"1", timeout=HANG)
        assert reply.data == b"ok:1"
        await clerk.close()
        await boss.close()


# -- queue-restricted entries ------------------------------------------------------------------

QUEUE_USERS: list[dict[str, Any]] = [
    {
        "user": "worker",
        "password": "pw",
        "permissions": {"subscribe": {"allow": ["jobs.* workers", "status"]}},
    },
    {
        "user": "peer",
        "password": "pw",
        "permissions": {"subscribe": {"allow": ">", "deny": ["jobs.* rogue"]}},
    },
]
QUEUE_CONF = """
authorization {
  users = [
    {user: worker, password: pw, permissions: {subscribe: {allow: ["jobs.* workers", "status"]}}}
    {user: peer, password: pw, permissions: {subscribe: {allow: ">", deny: "jobs.* rogue"}}}
  ]
}
"""


async def test_queue_restricted_allow(kind: str) -> None:
    async with serve(kind, QUEUE_USERS, QUEUE_CONF) as (url, _):
        worker = await Raw.login(url, "worker")
        got = await worker.ask(
            b"SUB jobs.* workers 1\r\n"
            b"SUB jobs.a workers 2\r\n"
            b"SUB jobs.a 3\r\n"  # the entry only admits the queue group
            b"SUB jobs.a others 4\r\n"
            b"SUB status 5\r\n"
            b"SUB status any 6\r\n"  # an entry without a queue admits any
        )
        assert got == (sub_violation("jobs.a") + sub_violation("jobs.a", "others") + b"PONG\r\n")
        worker.close()


async def test_queue_restricted_deny(kind: str) -> None:
    async with serve(kind, QUEUE_USERS, QUEUE_CONF) as (url, _):
        peer = await Raw.login(url, "peer")
        got = await peer.ask(b"SUB jobs.a rogue 1\r\nSUB jobs.a fine 2\r\nSUB jobs.a 3\r\n")
        assert got == sub_violation("jobs.a", "rogue") + b"PONG\r\n"
        peer.close()


# -- allow_responses ----------------------------------------------------------------------------

RESPONDER_USERS: list[dict[str, Any]] = [
    {
        "user": "svc",
        "password": "pw",
        "permissions": {"subscribe": "svc.>", "allow_responses": True},
    },
    {
        "user": "svc2",
        "password": "pw",
        "permissions": {"subscribe": "svc.>", "allow_responses": {"max": 2}},
    },
    {"user": "client", "password": "pw"},
]
RESPONDER_CONF = """
authorization {
  users = [
    {user: svc, password: pw, permissions: {subscribe: "svc.>", allow_responses: true}}
    {user: svc2, password: pw, permissions: {subscribe: "svc.>", allow_responses: {max: 2}}}
    {user: client, password: pw}
  ]
}
"""


@pytest.mark.parametrize(("user", "replies"), [("svc", 1), ("svc2", 2)])
async def test_allow_responses(kind: str, user: str, replies: int) -> None:
    async with serve(kind, RESPONDER_USERS, RESPONDER_CONF) as (url, _):
        svc = await Raw.login(url, user)
        assert await svc.ask(b"SUB svc.> 1\r\n") == b"PONG\r\n"
        client = await Raw.login(url, "client")
        assert await client.ask(b"SUB _INBOX.r.* 9\r\nPUB svc.echo _INBOX.r.1 2\r\nhi\r\n") == (
            b"PONG\r\n"
        )
        assert await svc.ask(b"") == b"MSG svc.echo 1 _INBOX.r.1 2\r\nhi\r\nPONG\r\n"
        # The responder may answer that reply subject (up to max times), nothing else.
        answers = b"".join(b"PUB _INBOX.r.1 2\r\nr%d\r\n" % i for i in range(replies + 1))
        got = await svc.ask(answers + b"PUB _INBOX.r.2 1\r\nx\r\nPUB svc.echo 1\r\ny\r\n")
        assert got == (
            pub_violation("_INBOX.r.1")
            + pub_violation("_INBOX.r.2")
            + pub_violation("svc.echo")
            + b"PONG\r\n"
        )
        expected = b"".join(b"MSG _INBOX.r.1 9 2\r\nr%d\r\n" % i for i in range(replies))
        assert await client.ask(b"") == expected + b"PONG\r\n"
        svc.close()
        client.close()


async def test_allow_responses_through_nats_py(kind: str) -> None:
    async with serve(kind, RESPONDER_USERS, RESPONDER_CONF) as (url, _):
        errors: list[str] = []
        svc = await connect(url, "svc", errors)

        async def answer(msg: Any) -> None:
            await msg.respond(b"echo:" + msg.data)

        await svc.subscribe("svc.echo", cb=answer)
        # svc may not use an inbox for settle(): the second PING cannot overtake the SUB
        await svc.flush()
        await svc.flush()
        client = await connect(url, "client")
        for i in range(3):  # every request opens its own one-reply permission
            reply = await client.request("svc.echo", b"%d" % i, timeout=HANG)
            assert reply.data == b"echo:%d" % i
        await svc.publish("elsewhere", b"x")
        await svc.flush()
        await wait_for(lambda: errors)
        assert errors == ['nats: permissions violation for publish to "elsewhere"']
        await client.close()
        await svc.close()


# -- default permissions ------------------------------------------------------------------------

DEFAULT_USERS: list[dict[str, Any]] = [
    {"user": "plain", "password": "pw"},
    {"user": "special", "password": "pw", "permissions": {"publish": "special.>"}},
]
DEFAULT_CONF = """
authorization {
  default_permissions: {publish: "public.>"}
  users = [
    {user: plain, password: pw}
    {user: special, password: pw, permissions: {publish: "special.>"}}
  ]
}
"""


async def test_default_permissions(kind: str) -> None:
    async with serve(
        kind, DEFAULT_USERS, DEFAULT_CONF, default_permissions={"publish": "public.>"}
    ) as (url, _):
        plain = await Raw.login(url, "plain")
        got = await plain.ask(b"PUB public.x 1\r\n1\r\nPUB special.x 1\r\n2\r\n")
        assert got == pub_violation("special.x") + b"PONG\r\n"
        special = await Raw.login(url, "special")
        got = await special.ask(b"PUB public.x 1\r\n1\r\nPUB special.x 1\r\n2\r\n")
        assert got == pub_violation("public.x") + b"PONG\r\n"
        plain.close()
        special.close()
