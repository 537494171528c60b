"""A stream's consumers: create, update, delete, reopen after a restart.

The consumers of a :class:`~natskern.kernel.jetstream.stream.Stream` live in its
``consumers`` dict (name -> :class:`~natskern.kernel.jetstream.consumer.Consumer`); the
stream calls each one's ``on_stored``/``on_removed``.  A consumer's config and creation
time are its :class:`~natskern.kernel.store.api.ConsumerStore`'s config record, so
:func:`ensure_loaded` can reopen every consumer the store knows (durables, and ephemerals
that have not timed out) the first time the stream's consumers are needed.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from natskern.kernel.jetstream.consumer import Consumer, config_record
from natskern.kernel.jetstream.consumerconfig import ConsumerConfig, decode_config
from natskern.kernel.jetstream.wire import dumps
from natskern.kernel.store.api import ConsumerStore
from natskern.kernel.store.consumer import MemoryConsumerStore

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.engine import AccountJetStream
    from natskern.kernel.jetstream.stream import Stream

__all__ = ["add_consumer", "close_consumers", "delete_consumer", "ensure_loaded"]

log = logging.getLogger("natskern.jetstream.consumer")
_LOADED = "_consumers_loaded"


def _make(
    js: AccountJetStream, stream: Stream, name: str, cfg: ConsumerConfig, cstore: Any, created: int
) -> Consumer:
    sname = stream.config.name

    def alive() -> bool:
        return js.streams.get(sname) is stream

    async def inactive(consumer: Consumer) -> None:
        if stream.consumers.get(consumer.name) is consumer:
            await delete_consumer(stream, consumer.name)

    return Consumer(
        stream, name, cfg, cstore, js.client, created=created, on_inactive=inactive, alive=alive
    )


async def ensure_loaded(js: AccountJetStream, stream: Stream) -> None:
    """Reopen the consumers stored with ``stream`` (once per stream object)."""
    if getattr(stream, _LOADED, False):
        return
    setattr(stream, _LOADED, True)
    for name in stream.store.consumer_names():
        if name in stream.consumers:
            continue
        cstore = await stream.store.consumer_store(name)
        record = cstore.config()
        if not record:
            await cstore.delete()
            continue
        try:
            doc = json.loads(record)
            cfg = decode_config(dumps(doc["config"]))
            created = int(doc["created"])
        except (ValueError, KeyError, TypeError):
            log.exception("consumer %r of %r: bad config record", name, stream.config.name)
            continue
        consumer = _make(js, stream, name, cfg, cstore, created)
        stream.consumers[name] = consumer
        await consumer.start(fresh=False)
    stream.consumer_count = len(stream.consumers)


async def add_consumer(
    js: AccountJetStream, stream: Stream, name: str, cfg: ConsumerConfig
) -> Consumer:
    """Create a checked new consumer: its state store, its start position, its delivery.

    A ``mem_storage`` consumer keeps its state in memory (nothing written, gone after a
    restart, as on nats-server); the others in the stream's store.
    """
    cstore: ConsumerStore
    if cfg.mem_storage:
        cstore = MemoryConsumerStore(name)
    else:
        cstore = await stream.store.consumer_store(name)
    created = time.time_ns()
    await cstore.update_config(config_record(cfg, created))
    consumer = _make(js, stream, name, cfg, cstore, created)
    stream.consumers[name] = consumer
    stream.consumer_count = len(stream.consumers)
    await consumer.start(fresh=True)
    consumer.advise("CREATED", "consumer_action", action="create")
    return consumer


async def update_consumer(consumer: Consumer, cfg: ConsumerConfig) -> None:
    """Apply a checked config update and store it."""
    await consumer.cstore.update_config(config_record(cfg, consumer.created))
    consumer.update(cfg)


async def delete_consumer(stream: Stream, name: str) -> bool:
    """Delete a consumer and its state; False when there is none."""
    consumer = stream.consumers.pop(name, None)
    if consumer is None:
        return False
    stream.consumer_count = len(stream.consumers)
    await consumer.stop(delete=True)
    consumer.advise("DELETED", "consumer_action", action="delete")
    if stream.config.retention == "interest":
        await _release(stream, consumer)
    return True


async def _release(stream: Stream, gone: Consumer) -> None:
    """Interest retention: remove what only the deleted consumer still needed."""
    others = list(stream.consumers.values())
    store = stream.store
    if not others:
        async with stream.lock:
            await stream.drain()
            await store.purge()
        return
    seq = gone.asflr + 1
    while True:
        msg = await store.load_next_msg("", seq)
        if msg is None:
            break
        seq = msg.seq + 1
        needed = any(c.matches(msg.subject) and not c.acked(msg.seq) for c in others)
        if not needed:
            await store.remove_msg(msg.seq)


async def close_consumers(stream: Stream, *, delete: bool = False) -> None:
    """Stop every consumer of ``stream`` (the engine's stream delete / shutdown)."""
    for name in list(stream.consumers):
        consumer = stream.consumers.pop(name)
        await consumer.stop(delete=delete)
    stream.consumer_count = 0
