"""Authentication (issue #2 item 6): none by default, token, user/password (plain and
bcrypt), a users list, ``no_auth_user``, the ``authenticate`` hook for third parties.

Each test runs against natskern (config model of plugins/auth/schema.py) and, when
installed, nats-server with the equivalent ``authorization {}`` block; the client
must see the same thing from both, error texts included.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import bcrypt
import nats
import pytest
from natskern.kernel.core.accounts import Identity
from natskern.kernel.hookspecs import hookimpl

from natskern import Broker
from tests.support.servers import natskern, raw_connect, serve
from tests.support.sync import settle

HANG = 5.0
VIOLATION = b"-ERR 'Authorization Violation'\r\n"


async def raw_info(url: str) -> dict[str, Any]:
    """The INFO a raw client gets."""
    reader, writer = await raw_connect(url)
    line = await asyncio.wait_for(reader.readline(), HANG)
    writer.close()
    return json.loads(line[5:])


async def raw_answer(url: str, data: bytes) -> tuple[bytes, bool]:
    """Send ``data`` (plus PING) after INFO; return the answer and whether the server closed.

    An open connection answers the PING; a closed one ends the stream.
    """
    reader, writer = await raw_connect(url)
    await asyncio.wait_for(reader.readline(), HANG)
    writer.write(data + b"PING\r\n")
    out = b""
    closed = False
    while not out.endswith(b"PONG\r\n"):
        try:
            chunk = await asyncio.wait_for(reader.read(65536), HANG)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            closed = True
            break
        out += chunk
    writer.close()
    return out, closed


def connect_line(**opts: Any) -> bytes:
    """A CONNECT line with the given options (quiet, like the official clients)."""
    return (
        b"CONNECT " + json.dumps({"verbose": False, "pedantic": False, **opts}).encode() + b"\r\n"
    )


async def connect(url: str, **kwargs: Any) -> nats.NATS:
    """nats-py without reconnects and with a silent error callback."""

    async def ignore(_: Exception) -> None:
        return None

    return await nats.connect(
        url, allow_reconnect=False, connect_timeout=HANG, error_cb=ignore, **kwargs
    )


async def refused(url: str, **kwargs: Any) -> None:
    """Assert nats-py cannot connect with these credentials, for the right reason."""
    with pytest.raises(nats.errors.Error) as info:
        await connect(url, **kwargs)
    assert "authorization violation" in str(info.value).lower()


async def round_trip(nc: nats.NATS, subject: str = "auth.check") -> None:
    """Assert a publish/subscribe round trip through ``nc`` works."""
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"hi")
    assert (await sub.next_msg(timeout=HANG)).data == b"hi"
    await sub.unsubscribe()


# -- no auth ------------------------------------------------------------------------------------


async def test_no_auth_by_default(kind: str) -> None:
    async with serve(kind, {}, "") as (url, _):
        info = await raw_info(url)
        assert "auth_required" not in info
        assert "nonce" not in info
        # Anyone gets in, with or without credentials (they are ignored).
        for creds in ({}, {"user": "who", "password": "ever"}, {"token": "t"}):
            nc = await connect(url, **creds)
            await round_trip(nc)
            await nc.close()
        # Operations before CONNECT are fine without auth (verbose until CONNECT says not).
        assert await raw_answer(url, b"SUB a 1\r\n") == (b"+OK\r\nPONG\r\n", False)


# -- token ------------------------------------------------------------------------------------

TOKEN = "s3cr3t-t0ken"


async def test_token(kind: str) -> None:
    config = {"auth": {"token": TOKEN}}
    async with serve(kind, config, f'authorization {{ token: "{TOKEN}" }}\n') as (url, _):
        assert (await raw_info(url))["auth_required"] is True
        nc = await connect(url, token=TOKEN)
        await round_trip(nc)
        await nc.close()
        await refused(url, token="wrong")
        await refused(url)
        await refused(url, user="u", password=TOKEN)
        assert await raw_answer(url, connect_line(auth_token="nope")) == (VIOLATION, True)
        assert await raw_answer(url, connect_line(auth_token=TOKEN)) == (b"PONG\r\n", False)


# -- user / password ----------------------------------------------------------------------------


def hashed(password: str) -> str:
    """A bcrypt hash as nats-server accepts it (cost 4 keeps the test fast)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.mark.parametrize("stored", ["plain", "bcrypt"])
async def test_single_user(kind: str, stored: str) -> None:
    password = "pa ss:w0rd"
    secret = password if stored == "plain" else hashed(password)
    config = {"auth": {"user": "alice", "password": secret}}
    conf = f'authorization {{ user: alice, password: "{secret}" }}\n'
    async with serve(kind, config, conf) as (url, _):
        assert (await raw_info(url))["auth_required"] is True
        nc = await connect(url, user="alice", password=password)
        await round_trip(nc)
        await nc.close()
        await refused(url, user="alice", password="wrong")
        await refused(url, user="bob", password=password)
        await refused(url)
        if stored == "bcrypt":  # the hash itself is not a password
            await refused(url, user="alice", password=secret)
        wrong = connect_line(user="alice", **{"pass": "wrong"})
        assert await raw_answer(url, wrong) == (VIOLATION, True)
        right = connect_line(user="alice", **{"pass": password})
        assert await raw_answer(url, right) == (b"PONG\r\n", False)


USERS_CONF = """
authorization {
  users = [
    {user: alice, password: "%s"}
    {user: bob, password: bobpw}
  ]
}
"""


async def test_users_list(kind: str) -> None:
    alice = hashed("alicepw")
    config = {
        "auth": {
            "users": [
                {"user": "alice", "password": alice},
                {"user": "bob", "password": "bobpw"},
            ]
        }
    }
    async with serve(kind, config, USERS_CONF % alice) as (url, broker):
        a = await connect(url, user="alice", password="alicepw")
        b = await connect(url, user="bob", password="bobpw")
        # Both share the global account: they see each other's messages.
        sub = await a.subscribe("shared")
        await settle(a)
        await b.publish("shared", b"from bob")
        assert (await sub.next_msg(timeout=HANG)).data == b"from bob"
        if broker is not None:
            assert sorted(c.user for c in broker.clients.values()) == ["alice", "bob"]
        await refused(url, user="alice", password="bobpw")
        await refused(url, user="bob", password="alicepw")
        await refused(url, user="carol", password="x")
        await a.close()
        await b.close()


@pytest.mark.parametrize(
    "first",
    [b"PING\r\n", b"SUB a 1\r\n", b"PUB a 1\r\nx\r\n", b"UNSUB 1\r\n"],
    ids=["ping", "sub", "pub", "unsub"],
)
async def test_anything_before_connect_is_a_violation(kind: str, first: bytes) -> None:
    config = {"auth": {"user": "alice", "password": "pw"}}
    async with serve(kind, config, "authorization { user: alice, password: pw }\n") as (
        url,
        broker,
    ):
        reader, writer = await raw_connect(url)
        await reader.readline()
        writer.write(first)
        out = b""
        while chunk := await asyncio.wait_for(reader.read(4096), HANG):
            out += chunk
        writer.close()
        assert out == VIOLATION
        if broker is not None:
            assert not broker.global_account.sublist.match(b"a").psubs


async def test_violation_leaves_other_clients_alone(kind: str) -> None:
    config = {"auth": {"token": TOKEN}}
    async with serve(kind, config, f'authorization {{ token: "{TOKEN}" }}\n') as (url, broker):
        good = await connect(url, token=TOKEN)
        for _ in range(5):
            await refused(url, token="bad")
        await round_trip(good)
        if broker is not None:
            assert len(broker.clients) == 1
        await good.close()


# -- no_auth_user -------------------------------------------------------------------------------

NO_AUTH_CONF = """
no_auth_user: guest
authorization {
  users = [
    {user: admin, password: adminpw}
    {user: guest, password: guestpw, permissions: {publish: "public.>", subscribe: "public.>"}}
  ]
}
"""


async def test_no_auth_user(kind: str) -> None:
    config = {
        "auth": {
            "no_auth_user": "guest",
            "users": [
                {"user": "admin", "password": "adminpw"},
                {
                    "user": "guest",
                    "password": "guestpw",
                    "permissions": {"publish": "public.>", "subscribe": "public.>"},
                },
            ],
        }
    }
    async with serve(kind, config, NO_AUTH_CONF) as (url, broker):
        errors: list[Exception] = []

        async def on_error(e: Exception) -> None:
            errors.append(e)

        # No credentials: bound to guest, with guest's permissions.
        guest = await nats.connect(url, allow_reconnect=False, error_cb=on_error)
        await round_trip(guest, "public.news")
        await guest.publish("private.x", b"nope")
        await guest.flush()
        # (nats-py's flush() PING can overtake the PUB: wait for the -ERR itself)
        for _ in range(int(HANG / 0.01)):
            if errors:
                break
            await asyncio.sleep(0.01)
        # (nats-py lower-cases the server's text; test_permissions checks the exact bytes)
        assert [str(e) for e in errors] == [
            'nats: permissions violation for publish to "private.x"'
        ]
        assert guest.is_connected
        # Credentials still pick their user; wrong ones are not downgraded to guest.
        admin = await connect(url, user="admin", password="adminpw")
        await round_trip(admin, "private.x")
        await refused(url, user="admin", password="wrong")
        if broker is not None:
            assert sorted(c.user for c in broker.clients.values()) == ["admin", "guest"]
        await guest.close()
        await admin.close()


# -- a third party's authenticate hook (natskern only) ------------------------------------------


class ColourAuth:
    """A third-party auth method: the password must be a colour; each colour is an account."""

    @hookimpl
    def configure(self, broker: Broker, config: dict[str, Any]) -> None:
        """Demand credentials."""
        broker.require_auth()

    @hookimpl
    def authenticate(self, broker: Broker, client: Any, options: dict[str, Any]) -> Any:
        """Decide synchronously: an Identity, or False."""
        colour = options.get("pass")
        if colour in {"red", "blue"}:
            return Identity(account=f"colour-{colour}", user=str(options.get("user", "")))
        return False


async def test_authenticate_hook_from_a_plugin() -> None:
    async with natskern(plugins=[ColourAuth()]) as broker:
        url = broker.listen_urls[0]
        assert (await raw_info(url))["auth_required"] is True
        red = await connect(url, user="r", password="red")
        blue = await connect(url, user="b", password="blue")
        await refused(url, user="g", password="green")
        # The identity's account isolates the two.
        red_sub = await red.subscribe("x")
        blue_sub = await blue.subscribe("x")
        await settle(red, blue)
        await blue.publish("x", b"blue")
        await red.publish("x", b"red")
        # Once both publishes are processed, and then each side's own marker, anything
        # that crossed would already be queued on the other side's subscription.
        await settle(blue, red)
        await settle(blue)
        assert (red_sub.pending_msgs, blue_sub.pending_msgs) == (1, 1)
        assert (await red_sub.next_msg(timeout=HANG)).data == b"red"
        assert (await blue_sub.next_msg(timeout=HANG)).data == b"blue"
        accounts = {c.user: c.account.name for c in broker.clients.values()}
        assert accounts == {"r": "colour-red", "b": "colour-blue"}
        await red.close()
        await blue.close()


@pytest.mark.parametrize(
    ("connect", "expected"),
    [
        (b'CONNECT {"protocol":2}\r\n', VIOLATION),
        (b'CONNECT {"protocol":2,"auth_token":"tok"}\r\n', b"-ERR 'invalid client protocol'\r\n"),
        (b'CONNECT {"no_responders":true,"auth_token":"x"}\r\n', VIOLATION),
    ],
)
async def test_credentials_are_checked_before_other_connect_fields(
    kind: str, connect: bytes, expected: bytes
) -> None:
    async with serve(kind, {"auth": {"token": "tok"}}, "authorization { token: tok }") as (url, _):
        reader, writer = await raw_connect(url)
        await reader.readline()
        writer.write(connect)
        got = await asyncio.wait_for(reader.read(), HANG)
        writer.close()
    assert got == expected
