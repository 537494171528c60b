"""nkey users: the client signs INFO's nonce with its seed; the server checks the signature.

Raw exchanges run against natskern and the real nats-server with the same key
and must get the same answers; nats-py connects with ``nkeys_seed_str`` and
``nkeys_seed`` (a file).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import nkeys
import pytest
from natskern.plugins.auth.basic import decode_user_nkey, verify_nkey_signature

from tests.support.servers import NATS_SERVER, nats_server, natskern, raw_connect

KINDS = pytest.mark.parametrize("kind", ["natskern", "nats-server"])
DEADLINE = 10.0  # only stops a broken run from hanging


async def connect_nats(url: str, **options: Any) -> nats.aio.client.Client:
    """nats-py, failing at once instead of retrying when the first connect fails."""
    options.setdefault("allow_reconnect", False)
    options.setdefault("connect_timeout", 5)
    return await nats.connect(url, **options)


def new_user() -> tuple[str, nkeys.KeyPair]:
    """A fresh user seed (as text) and its key pair."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    return seed, nkeys.from_seed(bytearray(seed.encode()))


SEED, USER = new_user()
PUBLIC = USER.public_key.decode()
OTHER_SEED, OTHER = new_user()


@contextlib.asynccontextmanager
async def server(kind: str) -> AsyncIterator[str]:
    """A server whose users are the nkey user (publish only to ok.>) and a password user."""
    if kind == "natskern":
        users = [
            {"nkey": PUBLIC, "permissions": {"publish": ["ok.>", "_INBOX.>"]}},
            {"user": "pw", "password": "secret"},
        ]
        async with natskern({"auth": {"users": users}}) as broker:
            yield broker.listen_urls[0]
    else:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        conf = (
            "authorization { users: [\n"
            f'  {{ nkey: {PUBLIC}, permissions: {{ publish: ["ok.>", "_INBOX.>"] }} }}\n'
            "  { user: pw, password: secret }\n"
            "] }\n"
        )
        with nats_server(conf) as url:
            yield url


def std_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def raw_url_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def connect_with(url: str, make_options: Any) -> tuple[dict[str, Any], bytes]:
    """Read INFO, send CONNECT built from it, a PUB to a denied subject and PING."""
    reader, writer = await raw_connect(url)
    try:
        line = await asyncio.wait_for(reader.readline(), DEADLINE)
        info = json.loads(line[5:])
        options = {"verbose": False, "pedantic": False, **make_options(info)}
        writer.write(b"CONNECT " + json.dumps(options).encode() + b"\r\n")
        writer.write(b"PUB denied 0\r\n\r\nPING\r\n")
        answer = await asyncio.wait_for(reader.readline(), DEADLINE)
        if answer.startswith(b"-ERR 'Permissions"):
            answer += await asyncio.wait_for(reader.readline(), DEADLINE)
        return info, answer
    finally:
        writer.close()


def signed(pair: nkeys.KeyPair, encode: Any, public: str = PUBLIC) -> Any:
    return lambda info: {"nkey": public, "sig": encode(pair.sign(info["nonce"].encode()))}


DENIED = b"-ERR 'Permissions Violation for Publish to \"denied\"'\r\nPONG\r\n"
REFUSED = b"-ERR 'Authorization Violation'\r\n"

CASES: dict[str, tuple[Any, bytes]] = {
    "std_base64_signature": (signed(USER, std_b64), DENIED),
    "raw_url_signature": (signed(USER, raw_url_b64), DENIED),
    "someone_elses_signature": (signed(OTHER, std_b64), REFUSED),
    "unknown_nkey": (signed(OTHER, std_b64, OTHER.public_key.decode()), REFUSED),
    "no_signature": (lambda info: {"nkey": PUBLIC}, REFUSED),
    "garbage_signature": (lambda info: {"nkey": PUBLIC, "sig": "not base64 at all!"}, REFUSED),
    "signature_of_another_nonce": (
        lambda info: {"nkey": PUBLIC, "sig": std_b64(USER.sign(b"another nonce"))},
        REFUSED,
    ),
    "password_user_alongside": (lambda info: {"user": "pw", "pass": "secret"}, b"PONG\r\n"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@KINDS
async def test_nkey_connects(kind: str, case: str) -> None:
    make_options, expected = CASES[case]
    async with server(kind) as url:
        info, answer = await connect_with(url, make_options)
    assert info["auth_required"] is True
    assert isinstance(info["nonce"], str) and len(info["nonce"]) >= 11
    assert answer == expected


async def test_no_nonce_without_nkey_users() -> None:
    async with natskern({"auth": {"users": [{"user": "a", "password": "b"}]}}) as broker:
        reader, writer = await raw_connect(broker.listen_urls[0])
        info = json.loads((await asyncio.wait_for(reader.readline(), DEADLINE))[5:])
        writer.close()
    assert "nonce" not in info


async def test_every_connection_gets_its_own_nonce() -> None:
    async with natskern({"auth": {"users": [{"nkey": PUBLIC}]}}) as broker:
        nonces = set()
        for _ in range(3):
            reader, writer = await raw_connect(broker.listen_urls[0])
            nonces.add(json.loads((await reader.readline())[5:])["nonce"])
            writer.close()
    assert len(nonces) == 3


async def test_nats_py_with_a_seed_string_and_a_seed_file(tmp_path: Path) -> None:
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(SEED + "\n")
    config = {"auth": {"users": [{"nkey": PUBLIC}]}}
    async with natskern(config) as broker:
        url = broker.listen_urls[0]
        one = await connect_nats(url, nkeys_seed_str=SEED)
        two = await connect_nats(url, nkeys_seed=str(seed_file))
        try:
            sub = await two.subscribe("k")
            await two.flush()
            await one.publish("k", b"signed")
            assert (await sub.next_msg(DEADLINE)).data == b"signed"
            assert broker.clients[one._client_id].user == PUBLIC
        finally:
            await one.close()
            await two.close()

        async def quiet(exc: Exception) -> None:
            pass

        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await connect_nats(
                url,
                nkeys_seed_str=OTHER_SEED,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=quiet,
            )


async def test_nkey_users_of_an_account_are_bound_to_it() -> None:
    config = {
        "auth": {"users": [{"user": "global", "password": "g"}]},
        "accounts": {"A": {"users": [{"nkey": PUBLIC}]}},
    }
    async with natskern(config) as broker:
        url = broker.listen_urls[0]
        in_a = await connect_nats(url, nkeys_seed_str=SEED)
        in_g = await connect_nats(url, user="global", password="g")
        try:
            assert broker.clients[in_a._client_id].account.name == "A"
            sub_a = await in_a.subscribe("x")
            sub_g = await in_g.subscribe("x")
            await in_a.flush()
            await in_g.flush()
            await in_g.publish("x", b"from G")
            await in_a.publish("x", b"from A")
            assert (await sub_a.next_msg(DEADLINE)).data == b"from A"
            assert (await sub_g.next_msg(DEADLINE)).data == b"from G"
            await in_a.flush()
            with pytest.raises(nats.errors.TimeoutError):
                await sub_a.next_msg(0.05)
        finally:
            await in_a.close()
            await in_g.close()


def test_signature_verification() -> None:
    nonce = "abcdefghijklmno"
    sig = USER.sign(nonce.encode())
    assert verify_nkey_signature(PUBLIC, nonce, std_b64(sig))
    assert verify_nkey_signature(PUBLIC, nonce, raw_url_b64(sig))
    assert not verify_nkey_signature(PUBLIC, nonce + "x", std_b64(sig))
    assert not verify_nkey_signature(OTHER.public_key.decode(), nonce, std_b64(sig))
    assert not verify_nkey_signature(PUBLIC, nonce, std_b64(sig[:-1]))
    assert not verify_nkey_signature(PUBLIC, nonce, "")


def test_only_well_formed_user_keys_decode() -> None:
    assert decode_user_nkey(PUBLIC) == bytes(USER._keys.verify_key)
    account = nkeys.from_seed(
        bytearray(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT))
    ).public_key.decode()
    assert account.startswith("A") and decode_user_nkey(account) is None
    flipped = PUBLIC[:10] + ("A" if PUBLIC[10] != "A" else "B") + PUBLIC[11:]
    assert decode_user_nkey(flipped) is None  # the checksum no longer matches
    assert decode_user_nkey(PUBLIC[:-1]) is None
    assert decode_user_nkey("U" + "1" * 55) is None  # not base32
