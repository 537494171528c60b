"""Runs of plain publishes staged with one ``stage_batch`` call (see ``publish_run``).

Over a real file store and a durable memory log: order and sequences of the acks
when plain messages and messages with headers alternate, the run's one timestamp,
a failed commit failing exactly the run it covers, limits taking the per-message path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from natskern.kernel.jetstream.stream import Stream, store_config
from natskern.kernel.jetstream.streamrequest import check_create
from natskern.kernel.protocol.headers import build_headers
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.file import FileLogFactory
from natskern.plugins.storage.memory import MemoryLog


def _cfg(functions: dict[str, Any], **fields: Any) -> Any:
    body = {"name": "S", "subjects": ["s.>"], **fields}
    return check_create("S", json.dumps(body).encode(), functions=functions)


async def file_stream(functions: dict[str, Any], root: Path, **fields: Any) -> Stream:
    cfg = _cfg(functions, **fields)
    store = await LogStore.open(FileLogFactory(str(root / "S"), sync="always"), store_config(cfg))
    return Stream(cfg, store, created=time.time_ns(), functions=functions)


def batch(*msgs: tuple[str, bytes | None, bytes]) -> list[tuple[bytes, bytes, bytes | None, bytes]]:
    return [(s.encode(), b"_INBOX.%d" % i, h, p) for i, (s, h, p) in enumerate(msgs)]


async def test_plain_runs_and_header_messages_keep_their_order(
    mapping_functions: dict[str, Any], tmp_path: Path
) -> None:
    stream = await file_stream(mapping_functions, tmp_path)
    dup = build_headers({"Nats-Msg-Id": "m1"})
    msgs = [("s.a", None, b"1"), ("s.b", None, b"2"), ("s.c", dup, b"3")]
    msgs += [("s.a", None, b"4"), ("s.d", dup, b"5"), ("s.e", None, b"6")]
    acks = await stream.ingest(batch(*msgs))
    assert [r for r, _ in acks] == [b"_INBOX.%d" % i for i in range(6)]
    got = [json.loads(a) for _, a in acks]
    assert [a["seq"] for a in got] == [1, 2, 3, 4, 3, 5]
    assert got[4].get("duplicate") is True
    stored = [await stream.store.load_msg(s) for s in range(1, 6)]
    assert [(m.subject, m.headers is None, m.payload) for m in stored] == [  # type: ignore[union-attr]
        ("s.a", True, b"1"),
        ("s.b", True, b"2"),
        ("s.c", False, b"3"),
        ("s.a", True, b"4"),
        ("s.e", True, b"6"),
    ]
    assert stored[0].ts == stored[1].ts  # type: ignore[union-attr]  # (one run, one time)
    await stream.store.close()
    # durable: everything is back after a reopen
    again = await file_stream(mapping_functions, tmp_path)
    assert again.store.state().messages == 5
    assert (await again.store.load_msg(5)).payload == b"6"  # type: ignore[union-attr]
    await again.store.close()


async def test_a_failed_commit_fails_the_run_then_the_stream_goes_on(
    mapping_functions: dict[str, Any],
) -> None:
    cfg = _cfg(mapping_functions)
    log = MemoryLog("S", sync="always", shelf=None, durable=True)
    stream = Stream(cfg, await LogStore.open(log, store_config(cfg)), created=time.time_ns())
    log.fail_commits = 1
    acks = [json.loads(a) for _, a in await stream.ingest(batch(*[("s.a", None, b"x")] * 3))]
    assert [a["error"]["err_code"] for a in acks] == [10077] * 3
    assert stream.store.state().messages == 0
    acks = [json.loads(a) for _, a in await stream.ingest(batch(("s.a", None, b"y")))]
    assert acks[0]["stream"] == "S" and "error" not in acks[0]
    assert stream.store.state().messages == 1


async def test_limits_refuse_per_message_inside_a_batch(
    mapping_functions: dict[str, Any], tmp_path: Path
) -> None:
    """With a limit the store is not batchable: discard new refuses the third message only."""
    stream = await file_stream(mapping_functions, tmp_path, max_msgs=2, discard="new")
    assert not stream.store.batchable  # type: ignore[attr-defined]
    acks = [json.loads(a) for _, a in await stream.ingest(batch(*[("s.a", None, b"x")] * 3))]
    assert [a.get("seq") for a in acks[:2]] == [1, 2]
    assert acks[2]["error"]["err_code"] == 10077
    assert stream.store.state().messages == 2
    await stream.store.close()


async def test_max_msg_size_refuses_one_message_of_a_run(
    mapping_functions: dict[str, Any], tmp_path: Path
) -> None:
    stream = await file_stream(mapping_functions, tmp_path, max_msg_size=4)
    msgs = [("s.a", None, b"ok"), ("s.a", None, b"too big"), ("s.a", None, b"ok2")]
    acks = [json.loads(a) for _, a in await stream.ingest(batch(*msgs))]
    assert acks[0]["seq"] == 1 and acks[2]["seq"] == 2
    assert acks[1]["error"]["err_code"] == 10054
    await stream.store.close()


async def _answers(functions: dict[str, Any], with_many: bool) -> tuple[list, int, int]:
    """Batches of plain runs, header messages, duplicates and rollups over a durable log,
    answered through ``answer`` alone or through ``many`` too."""
    body = {"name": "S", "subjects": ["s.>"], "allow_rollup_hdrs": True}
    cfg = check_create("S", json.dumps(body).encode(), functions=functions)
    log = MemoryLog("S", sync="always", shelf=None, durable=True)
    stream = Stream(cfg, await LogStore.open(log, store_config(cfg)), created=time.time_ns())
    sent: list[tuple[bytes, bytes]] = []
    calls = 0

    def answer(reply: bytes, ack: bytes) -> None:
        nonlocal calls
        calls += 1
        sent.append((reply, ack))

    def many(replies: list[bytes], acks: list[bytes]) -> None:
        nonlocal calls
        calls += 1
        sent.extend((r, a) for r, a in zip(replies, acks, strict=True) if r)

    dup = build_headers({"Nats-Msg-Id": "m"})
    roll = build_headers({"Nats-Rollup": "sub"})
    batches = [
        [("s.a", None, b"1"), ("s.b", None, b"2"), ("s.c", dup, b"3"), ("s.a", None, b"4")],
        [("s.d", dup, b"5"), ("s.a", roll, b"6"), ("s.e", None, b"7"), ("s.e", None, b"8")],
        [("s.f", None, b"9")] * 5,
    ]
    n = 0
    for msgs in batches:
        items = []
        for s, h, p in msgs:
            items.append((s.encode(), b"" if n % 5 == 3 else b"_INBOX.%d" % n, h, p))
            n += 1
        await stream.submit(items, answer, many if with_many else None)
    await stream.drain()
    assert not stream._answers
    return [(r, json.loads(a)) for r, a in sent], calls, stream.store.state().last_seq


async def test_answers_through_many_are_the_answers_one_by_one(
    mapping_functions: dict[str, Any],
) -> None:
    """``many`` sends the same acknowledgements in the same order, in fewer calls."""
    one, one_calls, last = await _answers(mapping_functions, False)
    batched, batched_calls, last_b = await _answers(mapping_functions, True)
    assert batched == one and last == last_b == 12
    assert [r for r, _ in one] == [b"_INBOX.%d" % i for i in range(13) if i % 5 != 3]
    # (messages 3 and 8 want no answer; 4 is a duplicate of 2, still waiting for its commit)
    assert [a["seq"] for _, a in one] == [1, 2, 3, 3, 5, 6, 7, 9, 10, 11, 12]
    assert [i for i, (_, a) in enumerate(one) if a.get("duplicate")] == [3]
    assert one_calls == len(one)
    assert batched_calls < one_calls // 2


async def test_a_stream_name_with_a_percent_sign_is_acknowledged_as_named(
    mapping_functions: dict[str, Any],
) -> None:
    """The acks are formatted from the name: a ``%`` in it is no format directive."""
    body = {"name": "P%d%s", "subjects": ["s.>"]}
    cfg = check_create("P%d%s", json.dumps(body).encode(), functions=mapping_functions)
    log = MemoryLog("P", sync="always", shelf=None, durable=True)
    stream = Stream(cfg, await LogStore.open(log, store_config(cfg)), created=time.time_ns())
    dup = build_headers({"Nats-Msg-Id": "m"})
    acks = await stream.ingest(batch(("s.a", None, b"1"), ("s.b", None, b"2"), ("s.c", dup, b"3")))
    assert [a for _, a in acks] == [b'{"stream":"P%%d%%s","seq":%d}' % n for n in (1, 2, 3)]
