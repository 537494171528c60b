"""Index checkpoints of the RocksDB backend: periodic snapshots, crash restart from them, faults.

A "crash" here is :func:`crash` (the database released without the store's
close: no close-time checkpoint, no ``seq`` record, no memtable flush), or a
real SIGKILL of a writer process in the kill -9 test.  After either, the store
must find exactly what it had acknowledged, from the newest checkpoint, the
records after it and the removal journal; a checkpoint it cannot trust (stale,
corrupt, unreadable by the store) means a full scan, and a log line says so.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
from array import array
from pathlib import Path
from typing import Any

import pytest
from natskern.kernel.store.api import StoreConfig, StoreIOError
from natskern.kernel.store.base import LogStore
from natskern.kernel.store.checkpoint import IndexSnapshot, load_index
from natskern.kernel.store.index import MsgIndex
from natskern.plugins.storage import rocksdb_ckpt as ckptfile
from natskern.plugins.storage.rocksdb import RocksLog, RocksLogFactory

from tests.store.rocksdb_helpers import recovered

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("rocksdb_faults", HERE / "test_rocksdb_faults.py")
assert _spec is not None and _spec.loader is not None
faults = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faults)

#: A periodic checkpoint after every 20 appended or removed records.
EVERY = 20


def factory(**tuning: Any) -> Any:
    tuning.setdefault("checkpoint_min", EVERY)
    tuning.setdefault("checkpoint_max", EVERY)
    return LogStore.factory(RocksLogFactory(**tuning))


async def open_store(path: str, **config: Any) -> LogStore:
    config.setdefault("name", "CK")
    store = await factory()(StoreConfig(**config), path, sync="always")
    assert isinstance(store, LogStore)
    return store


def rlog(store: LogStore) -> RocksLog:
    log = store._log
    assert isinstance(log, RocksLog)
    return log


async def crash(store: LogStore) -> None:
    """Release the store as kill -9 leaves it: committed writes only, no close-time checkpoint."""
    log = rlog(store)
    log._request = None  # no more commits asked for
    await store._commit.drain()  # (one it asked for may be scheduled)
    await log._checkpoint_written()  # (a real crash may also cut it short: the kill -9 test)
    store._stop_timers()
    store._closed = True
    log._closed = True
    log._close_db(sync=False)


async def snapshot_of(store: LogStore) -> dict[str, Any]:
    """Everything a reader can observe of the stream (messages and state)."""
    st = store.state(deleted_details=True)
    msgs = []
    seq = 0
    while (m := await store.load_next_msg(">", seq + 1)) is not None:
        msgs.append((m.seq, m.subject, m.ts, m.headers, m.payload))
        seq = m.seq
    return {
        "state": (st.messages, st.bytes, st.first_seq, st.last_seq, st.num_subjects, st.deleted),
        "times": (st.first_ts, st.last_ts),
        "subjects": store.subjects_state(">"),
        "msgs": msgs,
    }


async def written(store: LogStore) -> None:
    """Wait until a periodic checkpoint due or being written is on disk.

    (One due is prepared in a thread, then taken by the commit the log asks for,
    then written in a thread.)
    """
    log = rlog(store)
    for _ in range(2):
        await log._checkpoint_written()
        await store._commit.drain()
    await log._checkpoint_written()


# -- the snapshot itself ------------------------------------------------------------------------


def test_snapshot_keeps_freed_subject_ids_free():
    idx = MsgIndex()
    for i, name in enumerate(["a", "b", "c", "d"] * 3):
        idx.add(i + 1, 1000 + i, idx.intern(name), 10)
    for seq in (2, 6, 10):  # every "b"
        idx.remove(seq)
    idx._sweep_at = 1  # (sweep now, not once the table doubled)
    idx.sweep(set())
    assert idx.names[1] == "" and idx._free == [1]
    data = b"".join(bytes(c) for c in IndexSnapshot(idx, b"extra").chunks())
    got, extra = load_index(data)
    assert extra == b"extra"
    assert got.names == idx.names and got.subjects == idx.subjects and got._free == [1]
    assert (got.msgs, got.bytes, got.base) == (idx.msgs, idx.bytes, idx.base)
    assert got.sid == idx.sid and got.live == idx.live and got.ts == idx.ts
    assert got.subjects_state(">") == idx.subjects_state(">")
    assert got.intern("e") == 1  # the freed id is reused, as in the index it came from


def test_snapshot_is_a_copy():
    idx = MsgIndex()
    idx.add_run(1, array("q", [5, 6, 7]), [idx.intern("x")] * 3, [1, 2, 3])
    snap = IndexSnapshot(idx)
    idx.remove(2)
    idx.add(4, 8, 0, 4)
    got, _ = load_index(b"".join(bytes(c) for c in snap.chunks()))
    assert got.msgs == 3 and got.end == 4 and got.is_live(2)


# -- the log alone ---------------------------------------------------------------------------


async def test_log_reports_the_checkpoint_as_a_base_with_tail_and_removals(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    for seq in range(1, 11):
        log.append(faults.msg(seq))
    log.put_meta("index", b"cp")  # covers 1..10
    log.append(faults.msg(11))  # staged after it in the same commit: not complete
    await log.commit()
    log.remove(3)
    log.remove_range(11, 11)
    log.append(faults.msg(12))
    await log.commit()
    log._close_db(sync=False)  # a crash
    log = RocksLog(path)
    rec = await log.open()
    assert rec.checkpoint_base and not rec.checkpoint_current
    assert [m.seq for m in await recovered(rec)] == [12]  # 11 was removed again
    assert sorted(rec.removed) == [(3, 3), (11, 11)]
    assert await log.get_meta("index") == b"cp"
    await log.close()


# -- periodic checkpoints and crash restart through the store -----------------------------------


async def test_periodic_checkpoint_is_taken_while_running(tmp_path):
    path = str(tmp_path / "s")
    store = await open_store(path)
    for i in range(3 * EVERY):
        await store.store_msg(f"p.{i % 3}", None, b"m%d" % i)
    await written(store)
    log = rlog(store)
    assert log.checkpoints_written >= 2
    got = ckptfile.read_checkpoint(path, [])
    assert got is not None and got.complete and got.gen <= log._gen
    assert got.seq >= 2 * EVERY  # no more than EVERY records behind
    await store.close()


async def test_crash_after_more_writes_and_removals_replays_the_tail(tmp_path, caplog):
    path = str(tmp_path / "s")
    store = await open_store(path, max_msgs_per_subject=40, allow_msg_ttl=True)
    for i in range(100):  # several periodic checkpoints; the per-subject limit removes some
        await store.store_msg(f"t.{i % 4}", b"NATS/1.0\r\n\r\n" if i % 9 == 0 else None, b"%d" % i)
    never, _ = await store.store_msg("t.ttl", None, b"never", ttl=-1)
    await written(store)
    rlog(store).checkpoint_min = rlog(store).checkpoint_max = 10_000  # no more checkpoints
    await written(store)
    ckpt = ckptfile.read_checkpoint(path, [])
    assert ckpt is not None and rlog(store).checkpoints_written >= 3
    # after the checkpoint: appends, single removals on both sides of it, a purge, a TTL
    for i in range(15):
        await store.store_msg(f"t.{i % 5}", None, b"late-%d" % i)
    timed, _ = await store.store_msg("t.ttl", None, b"expires", ttl=3_600 * 10**9)
    assert await store.remove_msg(ckpt.seq - 3)
    assert await store.remove_msg(ckpt.seq + 2)
    assert await store.purge("t.1", seq=ckpt.seq - 10) > 0
    before = await snapshot_of(store)
    hw = store._hw
    await crash(store)
    caplog.set_level(logging.INFO, logger="natskern.store")
    store = await open_store(path, max_msgs_per_subject=40, allow_msg_ttl=True)
    log = rlog(store)
    after = [m for m in before["msgs"] if m[0] > ckpt.seq]
    assert log.recovered_tail == len(after) >= 15  # the records after the checkpoint only
    assert "index checkpoint loaded" in caplog.text
    assert await snapshot_of(store) == before
    assert never in store._never and store._ttl.get(timed) == 3_600 * 10**9
    seq, _ = await store.store_msg("t.0", None, b"after")
    assert seq == hw + 1  # no sequence handed out twice
    await store.close()
    store = await open_store(path, max_msgs_per_subject=40, allow_msg_ttl=True)
    assert (await snapshot_of(store))["msgs"][:-1] == before["msgs"]
    await store.close()


async def test_crash_after_truncate_and_more_appends_never_reuses_sequences(tmp_path):
    path = str(tmp_path / "s")
    store = await open_store(path)
    for i in range(30):
        await store.store_msg("x", None, b"%d" % i)
    await store.truncate(10)  # the seq record now says last 10, highest used 30
    for i in range(2 * EVERY):  # then a periodic checkpoint beyond it, current at the crash
        await store.store_msg("x", None, b"again-%d" % i)
    await written(store)
    hw, last = store._hw, store.state().last_seq
    assert hw == last == 30 + 2 * EVERY
    await store.flush()
    await crash(store)
    store = await open_store(path)
    assert store.state().last_seq == last and store._hw == hw
    assert (await store.store_msg("x", None, b"next"))[0] == hw + 1
    await store.close()


async def test_skip_and_remove_newest_after_checkpoint_survive_a_crash(tmp_path):
    path = str(tmp_path / "s")
    store = await open_store(path)
    for i in range(EVERY + 5):
        await store.store_msg("y", None, b"%d" % i)
    await written(store)
    await store.skip_msgs(EVERY + 6, 4)
    seq, _ = await store.store_msg("y", None, b"newest")
    assert await store.remove_msg(seq)
    before = await snapshot_of(store)
    await crash(store)
    store = await open_store(path)
    assert await snapshot_of(store) == before
    assert (await store.store_msg("y", None, b"next"))[0] == seq + 1
    await store.close()


async def test_failed_commit_writes_no_checkpoint_of_its_group(tmp_path):
    path = str(tmp_path / "s")
    store = await open_store(path)
    log = rlog(store)
    log._request = None  # the snapshot waits for the next write's commit
    for i in range(EVERY):
        await store.store_msg("f", None, b"%d" % i)
    assert log._ckpt_due() and log.checkpoints_written == 0
    real = log._write
    calls = [0]

    def failing(batch: Any) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise Exception("IO error: injected: No space left on device")
        real(batch)

    log._write = failing  # type: ignore[method-assign]
    with pytest.raises(StoreIOError):  # its commit took the snapshot, then failed
        await store.store_msg("f", None, b"lost")
    failed = store._hw
    await written(store)
    assert log.checkpoints_written == 0 and not Path(path, ckptfile.FILE).exists()
    for i in range(3):  # the next commits succeed; one of them takes the snapshot again
        await store.store_msg("f", None, b"late-%d" % i)
    await written(store)
    ckpt = ckptfile.read_checkpoint(path, [])
    assert log.checkpoints_written == 1 and ckpt is not None and ckpt.seq > failed
    before = await snapshot_of(store)
    assert failed not in [m[0] for m in before["msgs"]]
    await crash(store)
    store = await open_store(path)
    assert await snapshot_of(store) == before
    assert (await store.store_msg("f", None, b"n"))[0] > failed + 3
    await store.close()


# -- checkpoints that must not be used ---------------------------------------------------------


async def _stream_with_checkpoint(path: str) -> tuple[LogStore, dict[str, Any]]:
    store = await open_store(path)
    for i in range(EVERY + 7):
        await store.store_msg(f"c.{i % 3}", None, b"%d" % i)
    await written(store)
    assert await store.remove_msg(3)
    return store, await snapshot_of(store)


async def test_corrupt_checkpoint_is_detected_and_rebuilt(tmp_path, caplog):
    path = str(tmp_path / "s")
    store, before = await _stream_with_checkpoint(path)
    await crash(store)
    ckpt = Path(path, ckptfile.FILE)
    data = bytearray(ckpt.read_bytes())
    rng = random.Random(7)
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    ckpt.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, logger="natskern.store")
    store = await open_store(path)
    assert "index checkpoint failing its checksum: scanning the records" in caplog.text
    assert await snapshot_of(store) == before
    log = rlog(store)
    assert log.recovered_tail == EVERY + 6  # every record: a full scan
    await written(store)  # the scan was long enough for a new checkpoint at once
    assert log.checkpoints_written == 1 and ckptfile.read_checkpoint(path, []) is not None
    await store.close()


async def test_truncated_or_missing_checkpoint_means_a_scan(tmp_path, caplog):
    path = str(tmp_path / "s")
    store, before = await _stream_with_checkpoint(path)
    await crash(store)
    ckpt = Path(path, ckptfile.FILE)
    os.truncate(ckpt, ckpt.stat().st_size // 2)
    caplog.set_level(logging.WARNING, logger="natskern.store")
    store = await open_store(path)
    assert "failing its checksum" in caplog.text and await snapshot_of(store) == before
    await crash(store)
    ckpt.unlink()
    caplog.clear()
    store = await open_store(path)
    assert "index checkpoint missing: scanning the records" in caplog.text
    assert await snapshot_of(store) == before
    await store.close()


async def test_stale_checkpoint_is_refused(tmp_path, caplog):
    path = str(tmp_path / "s")
    store, _ = await _stream_with_checkpoint(path)
    old = Path(path, ckptfile.FILE).read_bytes()
    for i in range(2 * EVERY):  # newer checkpoints; the removals before them leave the journal
        await store.store_msg("c.0", None, b"more-%d" % i)
        if i % 5 == 0:
            await store.remove_msg(store._hw - 1)
    await written(store)
    await store.store_msg("c.0", None, b"raises the floor")
    before = await snapshot_of(store)
    await crash(store)
    Path(path, ckptfile.FILE).write_bytes(old)  # a valid file, but from before the floor
    caplog.set_level(logging.WARNING, logger="natskern.store")
    store = await open_store(path)
    assert "index checkpoint not used, stale" in caplog.text
    assert await snapshot_of(store) == before
    await store.close()


async def test_checkpoint_the_store_cannot_load_is_dropped_and_rebuilt(tmp_path, caplog):
    path = str(tmp_path / "s")
    store, before = await _stream_with_checkpoint(path)
    log = rlog(store)
    gen, top = log._gen, log._appended_top
    await crash(store)
    # intact for the log (its checksum holds), garbage for the store
    ckptfile.write_checkpoint(path, gen, top, True, [b"not an index checkpoint"])
    caplog.set_level(logging.WARNING, logger="natskern.store")
    store = await open_store(path)
    assert "index checkpoint unusable, rescanning the log" in caplog.text
    assert await snapshot_of(store) == before
    await store.close()
    store = await open_store(path)  # the close wrote a good one
    assert rlog(store).recovered_tail == 0 and await snapshot_of(store) == before
    await store.close()


async def test_corrupt_journal_entry_means_a_scan(tmp_path, caplog):
    path = str(tmp_path / "s")
    store, before = await _stream_with_checkpoint(path)
    gen = rlog(store)._gen  # the commit of remove_msg(3): its journal entry
    await crash(store)
    faults.flip(path, "meta", ckptfile.journal_key(gen), 77)
    caplog.set_level(logging.WARNING, logger="natskern.store")
    store = await open_store(path)
    assert f"removal journal entry of generation {gen} failing its checksum" in caplog.text
    assert await snapshot_of(store) == before
    await store.close()


# -- kill -9 --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11, 12])
async def test_kill_9_with_periodic_checkpoints_loses_no_ack(tmp_path, seed):
    """The kill -9 loop of the fault tests, with a periodic checkpoint every 200 records.

    Kills land before, during and after checkpoint writes; every verifying open
    is a crash restart (checkpoint + tail + journal) and must find every ack.
    """
    path = str(tmp_path / "s")
    rng = random.Random(seed)
    acked: dict[int, bytes] = {}
    removed: set[int] = set()
    bases = 0
    for _ in range(6):
        start, new, gone = faults._kill_round(path, rng, HERE / "rocksdb_ckpt_writer.py")
        assert start >= max(acked, default=0)
        assert not new.keys() & acked.keys()
        acked |= new
        removed |= gone
        store = await factory()(StoreConfig(name="KILL"), path, sync="always")
        log = rlog(store)
        bases += 0 < log.recovered_tail < len(acked)
        assert store.state().last_seq >= max(acked)
        for seq, payload in acked.items():
            got = await store.load_msg(seq)
            token = int(payload.split(b"-")[1])
            if seq in removed:
                assert got is None, f"removal of {seq} acked, but it is back"
            elif got is None:
                assert token % 50 == 0, f"acked but lost: {seq}"
            else:
                assert got.payload == payload
        await crash(store)  # the next round starts from a crash too
    assert bases, "no verifying open used a periodic checkpoint"


async def test_failed_periodic_checkpoint_write_is_logged_and_retried_later(
    tmp_path, caplog, monkeypatch
):
    path = str(tmp_path / "s")
    store = await open_store(path)
    for i in range(EVERY):
        await store.store_msg("w", None, b"%d" % i)
    await written(store)
    log = rlog(store)
    assert log.checkpoints_written == 1
    attempts = []

    def full_disk(*args: Any) -> int:
        attempts.append(args[1])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckptfile, "write_checkpoint", full_disk)
    caplog.set_level(logging.WARNING, logger="natskern.store.rocksdb")
    for i in range(3 * EVERY):  # writes go on; one attempt, then no retry for a while
        await store.store_msg("w", None, b"more-%d" % i)
        await written(store)
    assert len(attempts) == 1 and "periodic index checkpoint failed" in caplog.text
    monkeypatch.undo()
    log._ckpt_retry_at = 1.0  # (the retry delay is over)
    await store.store_msg("w", None, b"last")
    await written(store)
    assert log.checkpoints_written == 2
    before = await snapshot_of(store)
    await crash(store)
    store = await open_store(path)
    assert await snapshot_of(store) == before and rlog(store).recovered_tail == 0
    await store.close()


def test_journal_ranges_merge_and_round_trip():
    data = ckptfile.encode_ranges([(5, 5), (1, 3), (4, 4), (9, 12), (10, 11), (2**64 - 1,) * 2])
    assert ckptfile.decode_ranges(data) == [(1, 5), (9, 12), (2**64 - 1, 2**64 - 1)]
