"""Fault tests of the RocksDB backend: bit flips, a full disk, kill -9 during appends.

The first ones drive the record log directly (what it reports and refuses); the
kill -9 test runs the registered store (``LogStore`` over the log) in a real
process that the test kills at seeded random moments.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from natskern.kernel.store.api import CorruptRecordError, StoreConfig, StoredMsg, StoreIOError
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage import rocksdb_ckpt as ckptfile
from natskern.plugins.storage import rocksdb_codec as codec
from natskern.plugins.storage.rocksdb import RocksLog, RocksLogFactory
from rocksdict import Options, Rdict

from tests.store.rocksdb_helpers import recovered

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("rocks_fault_writer", HERE / "rocks_fault_writer.py")
assert _spec is not None and _spec.loader is not None
writer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(writer)


def msg(seq: int, payload: bytes = b"", subject: str = "s.a") -> StoredMsg:
    return StoredMsg(subject, seq, 1_000 + seq, None, payload or b"p%d" % seq)


async def records(rec) -> list:
    return await recovered(rec)


def raw_db(path: str) -> Rdict:
    """The stream's database opened directly (the log must be closed)."""
    cfs = {name: Options(raw_mode=True) for name in ("msgs", "meta", "aux")}
    return Rdict(path, options=Options(raw_mode=True), column_families=cfs)


def flip(path: str, cf: str, key: bytes, bit: int) -> None:
    """Flip one bit of the value under ``key`` with a raw put."""
    db = raw_db(path)
    view = db.get_column_family(cf)
    value = bytearray(view.get(key))
    value[bit // 8 % len(value)] ^= 1 << (bit % 8)
    view.put(key, bytes(value))
    view.close()
    db.close()


async def filled(path: str, n: int = 50) -> None:
    log = RocksLog(path)
    await log.open()
    for seq in range(1, n + 1):
        log.append(msg(seq, b"payload-%d" % seq, f"s.{seq % 5}"))
    await log.commit()
    await log.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_bit_flip_anywhere_in_a_value_is_never_served(tmp_path, seed):
    path = str(tmp_path / "s")
    await filled(path)
    rng = random.Random(seed)
    bad = sorted(rng.sample(range(1, 51), 4))
    for seq in bad:
        key = codec.seq_key(seq)
        db = raw_db(path)
        size = len(db.get_column_family("msgs").get(key))
        db.close()
        flip(path, "msgs", key, rng.randrange(size * 8))  # checksum, lengths, subject, payload
    log = RocksLog(path)
    rec = await log.open()
    metas = await records(rec)  # no checkpoint was saved: the log scans and verifies
    assert sorted(rec.corrupt) == bad
    assert [m.seq for m in metas] == [s for s in range(1, 51) if s not in bad]
    assert all(f"sequence {s}" in " ".join(rec.problems) for s in bad)
    for seq in range(1, 51):
        if seq in bad:
            with pytest.raises(CorruptRecordError) as err:
                await log.read(seq)
            assert err.value.seq == seq
        else:
            got = await log.read(seq)
            assert got is not None and got.payload == b"payload-%d" % seq
    log.append(msg(51))  # the stream keeps accepting writes
    await log.commit()
    assert (await log.read(51)).payload == b"p51"
    await log.close()


async def test_corruption_after_a_clean_close_is_caught_on_read(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    for seq in range(1, 11):
        log.append(msg(seq))
    log.put_meta("index", b"checkpoint")
    await log.commit()
    await log.close()
    flip(path, "msgs", codec.seq_key(4), 8 * 40)
    log = RocksLog(path)
    rec = await log.open()
    assert rec.checkpoint_current  # no scan: the read is where it is caught
    with pytest.raises(CorruptRecordError):
        await log.read(4)
    assert (await log.read(5)).payload == b"p5"
    await log.close()


async def test_log_state_and_meta_survive_one_corrupted_copy(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    for seq in range(1, 6):
        log.append(msg(seq))
    log.put_meta("config", b'{"name":"s"}')
    log.remove(5)  # the newest is gone: last_seq must still say 5
    await log.commit()
    await log.close()
    flip(path, "meta", codec.STATE_KEYS[0], 3)
    flip(path, "meta", codec.user_meta_keys("config")[0], 100)
    log = RocksLog(path)
    rec = await log.open()
    await records(rec)
    assert rec.last_seq == 5
    assert any("second" in p for p in rec.problems)
    assert await log.get_meta("config") == b'{"name":"s"}'
    await log.close()
    flip(path, "meta", codec.STATE_KEYS[1], 70)
    flip(path, "meta", codec.user_meta_keys("config")[1], 7)
    log = RocksLog(path)
    rec = await log.open()
    assert [m.seq for m in await records(rec)] == [1, 2, 3, 4]
    assert rec.last_seq == 4  # both copies gone: the newest record is all that is left
    assert any("both copies" in p for p in rec.problems)
    assert await log.get_meta("config") is None  # never a corrupted value
    await log.close()


async def test_corrupt_index_checkpoint_means_a_scan(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    for seq in range(1, 4):
        log.append(msg(seq))
    log.put_meta("index", b"x" * (codec.TWO_COPY_LIMIT + 1))
    await log.commit()
    await log.close()
    ckpt = Path(path, ckptfile.FILE)
    data = bytearray(ckpt.read_bytes())
    data[12345 // 8] ^= 1 << (12345 % 8)
    ckpt.write_bytes(bytes(data))
    log = RocksLog(path)
    rec = await log.open()
    assert not rec.checkpoint_current
    assert [m.seq for m in await records(rec)] == [1, 2, 3]
    assert any("index checkpoint" in p for p in rec.problems)
    await log.close()


async def test_corrupt_side_log_entry_is_dropped(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    aux = log.aux_log("c1")
    for i in range(3):
        aux.append(b"delta-%d" % i)
    await log.commit()
    await log.close()
    flip(path, "aux", codec.aux_key(codec.aux_prefix("c1"), 1), 70)
    log = RocksLog(path)
    await log.open()
    assert await log.aux_log("c1").replay() == [b"delta-0", b"delta-2"]
    await log.close()


# -- a full disk ------------------------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path):
    """A 1 MiB tmpfs (root only); unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"mount refused: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_full_disk_fails_the_commit_and_the_store_continues(tiny_fs):
    filler = tiny_fs / "filler"
    filler.write_bytes(b"\0" * (256 << 10))
    path = str(tiny_fs / "s")
    log = RocksLog(path, write_buffer_size=64 << 20)
    await log.open()
    acked: list[int] = []
    seq = 0
    failed: list[int] = []
    with pytest.raises(StoreIOError):
        while True:  # 1 MiB fills after a few hundred 4 KiB records
            group = []
            for _ in range(8):
                seq += 1
                log.append(msg(seq, bytes([seq % 256]) * 4000))
                group.append(seq)
            try:
                await log.commit()
            except StoreIOError:
                failed = group
                raise
            acked += group
            assert seq < 10_000
    assert acked and failed
    for s in acked[-5:]:  # reads go on while the disk is full
        assert (await log.read(s)).payload == bytes([s % 256]) * 4000
    log.append(msg(seq + 1, b"still full"))
    with pytest.raises(StoreIOError):
        await log.commit()  # no space yet: the reopen fails, nothing is acknowledged
    assert (await log.read(acked[-1])).payload == bytes([acked[-1] % 256]) * 4000  # still served
    filler.unlink()  # space returns
    log.append(msg(seq + 2, b"after"))
    await log.commit()
    assert (await log.read(seq + 2)).payload == b"after"
    await log.close()
    log = RocksLog(path)
    rec = await log.open()
    seqs = [m.seq for m in await records(rec)]
    assert set(acked) <= set(seqs) and seq + 2 in seqs
    assert not set(failed) & set(seqs) and seq + 1 not in seqs  # never acknowledged, not back
    assert rec.last_seq >= seq + 2
    await log.close()


# -- kill -9 ----------------------------------------------------------------------------------


def _kill_round(
    path: str, rng: random.Random, script: Path = HERE / "rocks_fault_writer.py"
) -> tuple[int, dict[int, bytes], set[int]]:
    """Run the writer (``script``), SIGKILL it after a random number of acks.

    Returns the last sequence it found at start, the acknowledged messages
    (seq -> payload) and the sequences whose removal was acknowledged.
    """
    env = dict(os.environ, NATSKERN_DISABLE_PLUGIN_AUTOLOAD="1")
    proc = subprocess.Popen(
        [sys.executable, str(script), path, str(rng.choice([16, 64, 256]))],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    target = rng.randrange(50, 3000)
    lines: list[bytes] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if len(lines) >= target:
                time.sleep(rng.random() * 0.02)  # a random moment after the target
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
    lines += [line + b"\n" for line in rest.split(b"\n")[:-1]]  # complete lines only
    assert lines and lines[0].startswith(b"S "), "the writer did not start"
    start = int(lines[0].split()[1])
    acked: dict[int, bytes] = {}
    removed: set[int] = set()
    for line in lines[1:]:
        parts = line.split()
        if parts[0] == b"A":
            acked[int(parts[1])] = parts[2]
        elif parts[0] == b"R":
            removed.add(int(parts[1]))
    return start, acked, removed


async def test_kill_9_during_pipelined_appends_loses_no_ack(tmp_path):
    path = str(tmp_path / "s")
    rng = random.Random(20261206)
    acked: dict[int, bytes] = {}
    removed: set[int] = set()
    for _ in range(10):
        start, new, gone = _kill_round(path, rng)
        assert start >= max(acked, default=0)  # the store resumes after every ack
        assert not new.keys() & acked.keys()  # no acknowledged sequence handed out again
        acked |= new
        removed |= gone
        factory = LogStore.factory(RocksLogFactory())
        store = await factory(StoreConfig(name="KILL"), path, sync="always")
        state = store.state()
        assert state.last_seq >= max(acked)
        for seq, payload in acked.items():
            got = await store.load_msg(seq)
            token = int(payload.split(b"-")[1])
            if seq in removed:
                assert got is None, f"removal of {seq} acked, but it is back"
            elif got is None:
                assert token % 50 == 0, f"acked but lost: {seq}"  # its removal was in flight
            else:
                assert got.payload == payload and got.subject == writer.subject_of(token)
        await store.close()


async def test_full_disk_through_the_store_fails_the_publish_then_recovers(tiny_fs):
    filler = tiny_fs / "filler"
    filler.write_bytes(b"\0" * (256 << 10))
    path = str(tiny_fs / "s")
    factory = LogStore.factory(RocksLogFactory(write_buffer_size=64 << 20))
    store = await factory(StoreConfig(name="FULL"), path, sync="always")
    acked: list[int] = []
    with pytest.raises(StoreIOError) as err:
        for i in range(10_000):
            acked.append((await store.store_msg("full", None, bytes([i % 256]) * 4000))[0])
    assert err.value.err_code == 10047  # insufficient storage resources
    state = store.state()
    assert state.messages == len(acked) and state.last_seq >= acked[-1]
    assert (await store.load_msg(acked[-1])).payload == bytes([(len(acked) - 1) % 256]) * 4000
    filler.unlink()
    seq, _ = await store.store_msg("full", None, b"after")
    assert seq > acked[-1] and (await store.load_msg(seq)).payload == b"after"
    await store.close()
    store = await factory(StoreConfig(name="FULL"), path, sync="always")
    assert store.state().messages == len(acked) + 1
    await store.close()


@pytest.mark.parametrize("damage", ["current", "manifest bit", "manifest cut", "no current"])
async def test_corrupt_database_metadata_is_repaired_from_the_data(tmp_path, damage):
    path = str(tmp_path / "s")
    await filled(path, 30)
    manifest = max(Path(path).glob("MANIFEST-*"))
    if damage == "current":
        Path(path, "CURRENT").write_text("garbage\n")
    elif damage == "manifest bit":
        data = bytearray(manifest.read_bytes())
        data[len(data) // 2] ^= 0x10
        manifest.write_bytes(bytes(data))
    elif damage == "manifest cut":
        os.truncate(manifest, 20)
    else:
        Path(path, "CURRENT").unlink()
    log = RocksLog(path)
    rec = await log.open()
    assert [m.seq for m in await records(rec)] == list(range(1, 31))
    assert rec.last_seq == 30 and any("repaired" in p for p in rec.problems)
    assert (await log.read(17)).payload == b"payload-17"
    log.append(msg(31))
    await log.commit()
    await log.close()
