"""Accounts isolate subjects (issue #2 item 6): two accounts using the same subjects,
wildcards, queue groups and request-reply never see each other's traffic; users of
one account share it; ``no_auth_user`` lands in its user's account.

Each test runs against natskern and, when installed, nats-server with the
equivalent ``accounts {}`` block.  "Nothing crosses" is checked without waiting:
each client publishes a marker in its own account after the traffic, and the
messages it received before its marker are exactly the expected ones.
"""

from __future__ import annotations

import contextlib
from typing import Any

import nats
import pytest
from nats.errors import NoRespondersError

from natskern import Broker
from tests.support.servers import serve as serve_either
from tests.support.sync import settle

HANG = 5.0

CONFIG: dict[str, Any] = {
    "auth": {"users": [{"user": "g", "password": "pw"}]},
    "accounts": {
        "A": {"users": [{"user": "a", "password": "pw"}, {"user": "a2", "password": "pw"}]},
        "B": {"users": [{"user": "b", "password": "pw"}]},
    },
}
CONF = """
authorization { users = [ {user: g, password: pw} ] }
accounts {
  A { users = [ {user: a, password: pw}, {user: a2, password: pw} ] }
  B { users = [ {user: b, password: pw} ] }
}
"""


def serve(
    kind: str, config: dict[str, Any] = CONFIG, conf_text: str = CONF
) -> contextlib.AbstractAsyncContextManager[tuple[str, Broker | None]]:
    """The two-account server of this module (natskern or nats-server): (url, broker or None)."""
    return serve_either(kind, config, conf_text)


async def login(url: str, user: str | None) -> nats.NATS:
    """nats-py as ``user`` (None: no credentials)."""
    creds = {} if user is None else {"user": user, "password": "pw"}
    return await nats.connect(url, allow_reconnect=False, connect_timeout=HANG, **creds)


async def until_marker(nc: nats.NATS, sub: Any, subject: str) -> list[tuple[str, bytes]]:
    """(subject, data) received on ``sub`` before a marker ``nc`` publishes on ``subject``."""
    marker = b"marker:" + subject.encode()
    await nc.publish(subject, marker)
    got = []
    while True:
        msg = await sub.next_msg(timeout=HANG)
        if msg.data == marker:
            return got
        got.append((msg.subject, msg.data))


async def test_same_subjects_in_two_accounts_never_cross(kind: str) -> None:
    async with serve(kind) as (url, broker):
        a, b, g = await login(url, "a"), await login(url, "b"), await login(url, "g")
        subs = {}
        for name, nc in (("a", a), ("b", b), ("g", g)):
            subs[name] = (await nc.subscribe("orders"), await nc.subscribe(">"))
            await settle(nc)
        for name, nc in (("a", a), ("b", b), ("g", g)):
            await nc.publish("orders", b"from " + name.encode())
            await nc.publish("other.thing", b"more from " + name.encode())
        for name, nc in (("a", a), ("b", b), ("g", g)):
            exact, wildcard = subs[name]
            assert await until_marker(nc, exact, "orders") == [("orders", b"from " + name.encode())]
            seen = await until_marker(nc, wildcard, "done")
            assert [m for m in seen if not m[0].startswith("_INBOX.")] == [  # (settle's own)
                ("orders", b"from " + name.encode()),
                ("other.thing", b"more from " + name.encode()),
                ("orders", b"marker:orders"),  # its own earlier marker, seen by ">"
            ]
        if broker is not None:
            accounts = {c.user: c.account.name for c in broker.clients.values()}
            assert accounts == {"a": "A", "b": "B", "g": "$G"}
        for nc in (a, b, g):
            await nc.close()


async def test_users_of_one_account_share_it(kind: str) -> None:
    async with serve(kind) as (url, _):
        a, a2, b = await login(url, "a"), await login(url, "a2"), await login(url, "b")
        sub = await a.subscribe("chat")
        b_sub = await b.subscribe("chat")
        await settle(a, b)
        await a2.publish("chat", b"hello a")
        assert (await sub.next_msg(timeout=HANG)).data == b"hello a"
        assert await until_marker(b, b_sub, "chat") == []
        for nc in (a, a2, b):
            await nc.close()


async def test_unsubscribing_in_one_account_leaves_the_other_alone(kind: str) -> None:
    async with serve(kind) as (url, _):
        a, b = await login(url, "a"), await login(url, "b")
        a_sub = await a.subscribe("x")  # same subject, same sid (1) on both connections
        b_sub = await b.subscribe("x")
        await settle(a, b)
        await a_sub.unsubscribe()
        await settle(a)
        await b.publish("x", b"still")
        assert (await b_sub.next_msg(timeout=HANG)).data == b"still"
        for nc in (a, b):
            await nc.close()


async def test_requests_do_not_cross_accounts(kind: str) -> None:
    async with serve(kind) as (url, _):
        a, a2, b = await login(url, "a"), await login(url, "a2"), await login(url, "b")

        async def answer_b(msg: Any) -> None:
            await msg.respond(b"B answers")

        await b.subscribe("svc", cb=answer_b)
        await settle(b)
        # Nobody serves "svc" in A: the 503 comes at once (no waiting for a timeout).
        with pytest.raises(NoRespondersError):
            await a.request("svc", b"?", timeout=HANG)

        async def answer_a(msg: Any) -> None:
            await msg.respond(b"A answers")

        await a2.subscribe("svc", cb=answer_a)
        await settle(a2)
        assert (await a.request("svc", b"?", timeout=HANG)).data == b"A answers"
        assert (await b.request("svc", b"?", timeout=HANG)).data == b"B answers"
        for nc in (a, a2, b):
            await nc.close()


async def test_queue_groups_are_per_account(kind: str) -> None:
    async with serve(kind) as (url, _):
        a, b = await login(url, "a"), await login(url, "b")
        a_q = await a.subscribe("work", queue="q")
        b_q = await b.subscribe("work", queue="q")
        await settle(a, b)
        for i in range(20):
            await a.publish("work", b"a%d" % i)
        # Every message of A goes to A's only member; B's member of "q" gets none.
        got = [(await a_q.next_msg(timeout=HANG)).data for _ in range(20)]
        assert got == [b"a%d" % i for i in range(20)]
        assert await until_marker(b, b_q, "work") == []
        for nc in (a, b):
            await nc.close()


NO_AUTH_CONFIG: dict[str, Any] = {**CONFIG, "auth": {**CONFIG["auth"], "no_auth_user": "b"}}
NO_AUTH_CONF = "no_auth_user: b\n" + CONF


async def test_no_auth_user_lands_in_its_account(kind: str) -> None:
    async with serve(kind, NO_AUTH_CONFIG, NO_AUTH_CONF) as (url, broker):
        anon = await login(url, None)
        a, b = await login(url, "a"), await login(url, "b")
        anon_sub = await anon.subscribe("news")
        a_sub = await a.subscribe("news")
        await settle(anon, a)
        await b.publish("news", b"for B")
        assert (await anon_sub.next_msg(timeout=HANG)).data == b"for B"
        assert await until_marker(a, a_sub, "news") == []
        if broker is not None:
            assert sorted(c.account.name for c in broker.clients.values()) == ["A", "B", "B"]
        for nc in (anon, a, b):
            await nc.close()
