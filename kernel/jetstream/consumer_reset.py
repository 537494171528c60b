"""``$JS.API.CONSUMER.RESET.<stream>.<consumer>`` (nats-server 2.14's ``resetStartingSeq``).

A reset moves a consumer's delivery position: with no sequence back to the message after
its ack floor, else to the sequence asked for (any for ``deliver_policy: all``; not below
the configured start for ``by_start_sequence``/``by_start_time``; other policies only go
back to the ack floor).  Everything pending is forgotten (no redeliveries, no pending
acks), the delivered and ack-floor pairs become ``(0, seq - 1)``, so the next delivery is
consumer sequence 1 again, and the last-active times are cleared.  On an interest stream
the messages nobody needs any more after the move are removed, as nats-server's
``checkStateForInterestStream`` does.  Waiting pull requests stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from natskern.kernel.jetstream.consumer_pending import PendingSet
from natskern.kernel.jetstream.wire import time_ns
from natskern.kernel.store.api import ConsumerState

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.consumer import Consumer

__all__ = ["reset_consumer", "reset_error"]


async def reset_error(consumer: Consumer, seq: int) -> str:
    """Why a reset to ``seq`` (0: the ack floor) is refused ("" when it is allowed)."""
    cfg = consumer.config
    if seq == 0 or cfg.deliver_policy == "all":
        return ""
    if cfg.deliver_policy == "by_start_sequence":
        return "below start seq" if seq < cfg.opt_start_seq else ""
    if cfg.deliver_policy == "by_start_time" and cfg.opt_start_time:
        start = await consumer._seq_from_time(time_ns(cfg.opt_start_time))
        return "below start time" if seq < start else ""
    return "not allowed"


async def reset_consumer(consumer: Consumer, seq: int) -> int:
    """Reset ``consumer`` to ``seq`` (0: after its ack floor); the sequence it starts from."""
    c = consumer
    if seq == 0:
        seq = c.asflr + 1
    seq = max(seq, 1)
    await c._flush_ops()  # what was recorded before the reset is written first
    old_pending, old_next = list(c.pending), c.sseq
    for handle in c._delayed.values():
        handle.cancel()
    c._delayed.clear()
    c.pending = PendingSet()
    c.rdc = {}
    c.rdq.clear()
    c._rdq_set.clear()
    c.lss = []
    c.lss_end = 0
    c.sseq, c.dseq = seq, 0
    c.adflr, c.asflr = 0, seq - 1
    c.last_delivered = c.last_acked = 0
    c._npc = None
    c._expiry_at = 0
    c._none_dirty = False
    # Deliveries and acks queued since the flush belong to the old position.
    kept = [op for op in c._ops if op[0] in ("R", "W")]
    c._ops.clear()
    c._ops.extend(kept)
    await c.cstore.update_state(
        ConsumerState(delivered_stream_seq=seq - 1, ack_floor_stream_seq=seq - 1)
    )
    if c.stream.config.retention == "interest":
        st = c.store.state()
        lo, hi = max(old_next, st.first_seq), min(seq, st.last_seq + 1)
        for s in [*old_pending, *range(lo, hi)]:
            if s < seq and c._acked_by_all(s):
                c._op("W", s)
    c.signal()
    return seq
