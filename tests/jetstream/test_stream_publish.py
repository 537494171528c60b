"""The publish path of a stream over a real memory store: checks, acks, dedupe, rollups."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from natskern.kernel.jetstream.stream import Stream, parse_ttl, store_config
from natskern.kernel.jetstream.streamrequest import check_create
from natskern.kernel.protocol.headers import build_headers
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.memory import MemoryLog


async def make_stream(functions: dict[str, Any], **fields: Any) -> Stream:
    body = {"name": "S", "subjects": ["s.>"], **fields}
    cfg = check_create("S", json.dumps(body).encode(), functions=functions)
    log = MemoryLog("S", sync="always", shelf=None)
    store = await LogStore.open(log, store_config(cfg))
    return Stream(cfg, store, created=time.time_ns(), functions=functions)


def hdr(**values: str) -> bytes:
    return build_headers({k.replace("_", "-"): v for k, v in values.items()})


async def publish(stream: Stream, *msgs: tuple[str, bytes | None, bytes]) -> list[Any]:
    batch = [(s.encode(), b"_INBOX.%d" % i, h, p) for i, (s, h, p) in enumerate(msgs)]
    return [json.loads(ack) for _, ack in await stream.ingest(batch)]


async def test_acks_in_order(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions)
    acks = await publish(stream, *[("s.a", None, b"x")] * 3)
    assert acks == [{"stream": "S", "seq": n} for n in (1, 2, 3)]
    assert stream.store.state().messages == 3


async def test_no_reply_no_ack(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions)
    assert await stream.ingest([(b"s.a", b"", None, b"x")]) == []
    assert stream.store.state().messages == 1


async def test_dedupe(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions)
    h = hdr(Nats_Msg_Id="m1")
    acks = await publish(stream, ("s.a", h, b"1"), ("s.a", h, b"2"))
    assert acks == [{"stream": "S", "seq": 1}, {"stream": "S", "seq": 1, "duplicate": True}]
    raw = await stream.ingest([(b"s.a", b"r", h, b"3")])
    assert raw == [(b"r", b'{"stream":"S","seq":1,"duplicate": true}')]
    assert stream.store.state().messages == 1


async def test_expected_headers(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions)
    await publish(stream, ("s.a", hdr(Nats_Msg_Id="a"), b"1"), ("s.b", None, b"2"))
    acks = await publish(
        stream,
        ("s.a", hdr(Nats_Expected_Last_Sequence="1"), b"x"),
        ("s.a", hdr(Nats_Expected_Last_Sequence="2"), b"x"),
        ("s.a", hdr(Nats_Expected_Last_Subject_Sequence="1"), b"x"),
        ("s.c", hdr(Nats_Expected_Last_Subject_Sequence="0"), b"x"),
        (
            "s.d",
            hdr(
                Nats_Expected_Last_Subject_Sequence="2",
                Nats_Expected_Last_Subject_Sequence_Subject="s.b",
            ),
            b"x",
        ),
        ("s.a", hdr(Nats_Expected_Last_Subject_Sequence_Subject="s.b"), b"x"),
        ("s.a", hdr(Nats_Expected_Stream="T"), b"x"),
        ("s.a", hdr(Nats_Expected_Last_Msg_Id="a"), b"x"),
    )
    assert acks[0]["error"] == {
        "code": 400,
        "err_code": 10071,
        "description": "wrong last sequence: 2",
    }
    assert acks[1] == {"stream": "S", "seq": 3}
    assert acks[2]["error"]["description"] == "wrong last sequence: 3"
    assert acks[3] == {"stream": "S", "seq": 4}
    assert acks[4] == {"stream": "S", "seq": 5}
    assert acks[5]["error"]["err_code"] == 10193
    assert acks[6] == {
        "error": {"code": 400, "err_code": 10060, "description": "expected stream does not match"},
        "stream": "S",
        "seq": 0,
    }
    assert acks[7]["error"] == {
        "code": 400,
        "err_code": 10070,
        "description": "wrong last msg ID: ",
    }


async def test_rollup(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions)
    acks = await publish(stream, ("s.a", hdr(Nats_Rollup="sub"), b"x"))
    assert acks[0]["error"] == {
        "code": 500,
        "err_code": 10111,
        "description": "rollup not permitted",
    }
    stream = await make_stream(mapping_functions, allow_rollup_hdrs=True)
    await publish(stream, ("s.a", None, b"1"), ("s.a", None, b"2"), ("s.b", None, b"3"))
    acks = await publish(stream, ("s.a", hdr(Nats_Rollup="SUB"), b"4"))
    assert acks == [{"stream": "S", "seq": 4}]
    assert stream.store.state().messages == 2
    acks = await publish(stream, ("s.a", hdr(Nats_Rollup="x"), b"5"))
    assert acks[0]["error"]["description"] == 'rollup value invalid: "x"'
    await publish(stream, ("s.c", hdr(Nats_Rollup="all"), b"6"))
    assert stream.store.state().messages == 1


async def test_limits_and_sizes(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions, max_msg_size=4, max_msgs=1, discard="new")
    acks = await publish(stream, ("s.a", None, b"12345"), ("s.a", None, b"1"), ("s.a", None, b"2"))
    assert acks[0]["error"] == {
        "code": 400,
        "err_code": 10054,
        "description": "message size exceeds maximum allowed",
    }
    assert acks[1] == {"stream": "S", "seq": 1}
    assert acks[2]["error"] == {
        "code": 503,
        "err_code": 10077,
        "description": "maximum messages exceeded",
    }


async def test_ttl(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions)
    acks = await publish(stream, ("s.a", hdr(Nats_TTL="1m"), b"x"))
    assert acks[0]["error"]["err_code"] == 10166
    stream = await make_stream(mapping_functions, allow_msg_ttl=True)
    acks = await publish(
        stream, ("s.a", hdr(Nats_TTL="10ms"), b"x"), ("s.a", hdr(Nats_TTL="1m"), b"y")
    )
    assert acks[0]["error"] == {
        "code": 400,
        "err_code": 10165,
        "description": "invalid per-message TTL",
    }
    assert acks[1] == {"stream": "S", "seq": 1}


@pytest.mark.parametrize(
    "raw,seconds", [(b"1m", 60), (b"never", -1), (b"NEVER", -1), (b"30", 30), (b"1.5s", 1)]
)
def test_parse_ttl(raw: bytes, seconds: int) -> None:
    assert parse_ttl(raw) == seconds


@pytest.mark.parametrize("raw", [b"500ms", b"x", b"-5"])
def test_parse_ttl_invalid(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_ttl(raw)


async def test_sealed_and_interest(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(mapping_functions, retention="interest")
    acks = await publish(stream, ("s.a", None, b"x"), ("s.a", None, b"y"))
    assert acks == [{"stream": "S", "seq": 1}, {"stream": "S", "seq": 2}]
    assert stream.store.state().messages == 0
    stream.config.sealed = True
    stream.apply_config(stream.config)
    acks = await publish(stream, ("s.a", None, b"x"))
    assert acks[0]["error"] == {
        "code": 400,
        "err_code": 10109,
        "description": "invalid operation on sealed stream",
    }


async def test_transform_and_republish(mapping_functions: dict[str, Any]) -> None:
    stream = await make_stream(
        mapping_functions,
        subjects=["in.*"],
        subject_transform={"src": "in.*", "dest": "st.$1"},
        republish={"src": "st.*", "dest": "rp.$1"},
    )
    sent: list[tuple[bytes, bytes, bytes]] = []
    stream.publisher = lambda s, h, p: sent.append((s, h, p))
    await publish(stream, ("in.a", hdr(X="1"), b"data"))
    msg = await stream.store.load_msg(1)
    assert msg is not None and msg.subject == "st.a"
    ((subject, block, payload),) = sent
    assert subject == b"rp.a" and payload == b"data"
    assert block.startswith(b"NATS/1.0\r\nX: 1\r\nNats-Stream: S\r\nNats-Subject: st.a\r\n")
    assert b"Nats-Sequence: 1\r\n" in block and block.endswith(b"Nats-Last-Sequence: 0\r\n\r\n")


async def test_writes_waiting_for_one_durable_commit(mapping_functions: dict[str, Any]) -> None:
    """Writes started at once share the commit's future; every one is acknowledged in order."""
    cfg = check_create("S", b'{"name":"S","subjects":["s.>"]}', functions=mapping_functions)
    log = MemoryLog("S", sync="always", shelf=None, durable=True)
    stream = Stream(cfg, await LogStore.open(log, store_config(cfg)), created=time.time_ns())
    for start in (1, 11):
        acks = await publish(
            stream, *[("s.a", hdr(Nats_Msg_Id=f"{start}-{i}"), b"x") for i in range(10)]
        )
        assert [a["seq"] for a in acks] == list(range(start, start + 10))
    assert log.commits <= 4  # grouped: not one commit per message


async def durable_stream(functions: dict[str, Any], **fields: Any) -> tuple[Stream, MemoryLog]:
    """A stream over a memory log that makes writers wait for their group commit."""
    body = {"name": "S", "subjects": ["s.>"], **fields}
    cfg = check_create("S", json.dumps(body).encode(), functions=functions)
    log = MemoryLog("S", sync="always", shelf=None, durable=True)
    return Stream(cfg, await LogStore.open(log, store_config(cfg)), created=time.time_ns()), log


async def test_a_batch_is_staged_while_the_one_before_is_committed(
    mapping_functions: dict[str, Any],
) -> None:
    """``submit`` returns once its batch is staged; the acks follow the commits, in order."""
    stream, log = await durable_stream(mapping_functions)
    answered: list[tuple[bytes, Any]] = []

    def answer(reply: bytes, ack: bytes) -> None:
        answered.append((reply, json.loads(ack)))

    first = [(b"s.a", b"r1.%d" % i, None, b"x") for i in range(5)]
    second = [(b"s.b", b"r2.%d" % i, hdr(Nats_Msg_Id="m"), b"y") for i in range(2)]
    await stream.submit(first, answer)
    assert answered == []  # staged, not committed yet
    assert stream.store.state().last_seq == 5
    await stream.submit(second, answer)
    await stream.drain()
    assert [reply for reply, _ in answered] == [r for _, r, _, _ in first + second]
    assert [ack["seq"] for _, ack in answered] == [1, 2, 3, 4, 5, 6, 6]
    assert answered[-1][1]["duplicate"] is True  # a duplicate of a write still waiting
    assert log.commits <= 3


async def test_a_failed_commit_refuses_every_write_it_covered(
    mapping_functions: dict[str, Any],
) -> None:
    stream, log = await durable_stream(mapping_functions)
    log.fail_commits = 1
    acks = await publish(stream, *[("s.a", hdr(Nats_Msg_Id=f"f{i}"), b"x") for i in range(3)])
    assert [a["error"]["err_code"] for a in acks] == [10077] * 3
    assert stream.store.state().messages == 0
    acks = await publish(stream, ("s.a", hdr(Nats_Msg_Id="f0"), b"again"))
    assert acks == [{"stream": "S", "seq": acks[0]["seq"]}]  # not a duplicate: never stored
    assert stream.store.state().messages == 1


async def test_rollup_keeps_what_was_staged_after_it(mapping_functions: dict[str, Any]) -> None:
    """A rollup purges up to itself, not the messages staged behind it in the same batch."""
    stream, _ = await durable_stream(mapping_functions, allow_rollup_hdrs=True)
    await publish(stream, ("s.a", None, b"1"), ("s.b", None, b"2"))
    acks = await publish(
        stream, ("s.a", hdr(Nats_Rollup="sub"), b"3"), ("s.a", None, b"4"), ("s.c", None, b"5")
    )
    assert [a["seq"] for a in acks] == [3, 4, 5]
    state = stream.store.subjects_state()
    assert {k: v.msgs for k, v in state.items()} == {"s.a": 2, "s.b": 1, "s.c": 1}
    acks = await publish(stream, ("s.c", hdr(Nats_Rollup="all"), b"6"), ("s.b", None, b"7"))
    assert stream.store.state().messages == 2
    assert (await stream.store.load_msg(7)) is not None


class _PlainStore:
    """A store with only the StreamStore protocol (no ``stage_msg``): a third party's."""

    def __init__(self, store: LogStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in ("stage_msg", "backlogged", "room", "peek_next_msg", "peek_last_msg"):
            raise AttributeError(name)
        return getattr(self._store, name)


@pytest.mark.parametrize("plain", [False, True], ids=["LogStore", "protocol-only"])
async def test_back_pressure_keeps_publish_order(
    mapping_functions: dict[str, Any], plain: bool
) -> None:
    """A store that holds writes back (max_staged_bytes) still stores and acks in order.

    Over a LogStore, messages wait before staging in ``submit``; over a store with
    only the protocol, each write waits inside ``store_msg`` and is driven until
    staged before the next message is looked at.
    """
    body = {"name": "S", "subjects": ["s.>"], "allow_rollup_hdrs": True}
    cfg = check_create("S", json.dumps(body).encode(), functions=mapping_functions)
    log = MemoryLog("S", sync="always", shelf=None, durable=True)
    store = await LogStore.open(log, store_config(cfg, {"max_staged_bytes": 200}))
    stream = Stream(cfg, _PlainStore(store) if plain else store, created=time.time_ns())  # type: ignore[arg-type]
    msgs = []
    for i in range(30):
        h = hdr(Nats_Rollup="sub") if i % 7 == 3 else None
        msgs.append((f"s.{i % 3}", h, b"%03d" % i))
    acks = await publish(stream, *msgs)
    assert [a["seq"] for a in acks] == list(range(1, 31))
    assert log.commits > 3  # held back: several commits, not one
    for seq in (30, 29, 28):
        msg = await store.load_msg(seq)
        assert msg is not None and msg.payload == b"%03d" % (seq - 1)
