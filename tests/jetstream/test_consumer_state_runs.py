"""Delivery runs (``("DR", ...)`` ops) in the consumer store and the pending set.

A pull run stages its first deliveries as one run record; the store's state after it,
and after a reopen of a real file store (replay, then rewrites), must equal what the
one-delivery-at-a-time calls leave.  ``PendingSet.pop_floor``/``extend_run`` must agree
with a plain dict model of the pending acks and nats-server's ack-floor rule.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from natskern.kernel.jetstream.consumer_pending import PendingSet
from natskern.kernel.store.api import StoreConfig
from natskern.plugins.storage.file import open_file_store


async def _open(directory: Path) -> Any:
    return await open_file_store(
        StoreConfig(name="S", subjects=["s.>"]), str(directory), sync="always"
    )


async def test_delivery_runs_equal_single_deliveries_across_reopen(tmp_path: Path) -> None:
    store = await _open(tmp_path)
    batched = await store.consumer_store("B")
    single = await store.consumer_store("S")
    rng = random.Random(11)
    ops: list[tuple[Any, ...]] = []
    pending: list[tuple[int, int]] = []
    dseq = sseq = 0
    for _ in range(300):
        n = rng.choice((1, 2, 7, 256))
        seqs = [sseq + 1 + k + (k // 3) for k in range(n)]  # gaps: a filtered consumer
        sseq = seqs[-1]
        ops.append(("DR", dseq + 1, seqs, sseq * 10))
        pending += [(dseq + 1 + k, s) for k, s in enumerate(seqs)]
        dseq += n
        while pending and rng.random() < 0.9:
            first, seq = pending.pop(0 if rng.random() < 0.8 else rng.randrange(len(pending)))
            ops.append(("A", first, seq))
    i = 0
    while i < len(ops):
        k = rng.choice((1, 3, 40))
        batched.update_many(ops[i : i + k])
        i += k
    for op in ops:
        if op[0] == "DR":
            for k, s in enumerate(op[2]):
                await single.update_delivered(op[1] + k, s, 1, op[3])
        else:
            await single.update_acks(op[1], op[2])
    want = single.state()
    assert want.pending and want.delivered_consumer_seq == dseq
    assert batched.state() == want
    await store.close()
    store = await _open(tmp_path)
    assert (await store.consumer_store("B")).state() == want
    assert (await store.consumer_store("S")).state() == want
    await store.close()


def test_pending_set_floor_matches_a_model() -> None:
    rng = random.Random(5)
    ps = PendingSet()
    model: dict[int, int] = {}  # stream seq -> first consumer seq
    adflr = dseq = sseq = 0
    for _ in range(3000):
        if rng.random() < 0.3 or not model:
            n = rng.choice((1, 5, 300))
            seqs = [sseq + 1 + 2 * k for k in range(n)]
            ps.extend_run(seqs, dseq + 1, 7)
            model.update({s: dseq + 1 + k for k, s in enumerate(seqs)})
            dseq += n
            sseq = seqs[-1]
            continue
        keys = sorted(model)
        seq = keys[0] if rng.random() < 0.7 else rng.choice(keys)
        if rng.random() < 0.05:
            seq += 1  # not pending: nothing happens
        first, nseq, ndseq = ps.pop_floor(seq, adflr)
        assert first == model.pop(seq, 0)
        after = [s for s in sorted(model) if s > seq]
        if first and first == adflr + 1:
            assert (nseq, ndseq) == ((after[0], model[after[0]]) if after else (0, 0))
            assert ps.first_after(seq) == (nseq, ndseq)
            adflr = ndseq - 1 if nseq else first
        else:
            assert (nseq, ndseq) == (0, 0)
        assert list(ps) == sorted(model) and len(ps) == len(model)
