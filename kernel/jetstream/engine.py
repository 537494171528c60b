"""The JetStream engine: per-account streams, their ingest, the API responder, restart.

:class:`JetStream` is entered by the JetStream plugin's lifespan.  For every account it
enables, an :class:`AccountJetStream` answers ``$JS.API.>`` (an internal subscription
whose requests one task serves in order; a direct get for a stream that does not serve
them is not taken, so the requester gets nats-server's 503) and owns the account's
streams.  Each stream takes its subjects in through internal subscribers with bounded
queues (publishers are held back while the store catches up) and one ingest task per
subject; the acks go out from the account's internal client.

Streams live under ``<store_dir>/jetstream/<account>/streams/<name>/``: ``meta.json``
(the config and creation time, replaced atomically) next to the store's own files.  On
start every stream found there is opened again (a memory stream comes back empty, as in
nats-server) and its ``Nats-Msg-Id`` window is rebuilt from the stored messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from natskern.kernel.core.internal import InternalClient, InternalSubscriber, QueuedMsg
from natskern.kernel.core.subscription import Subscription
from natskern.kernel.jetstream import ADVERTISED_VERSION, API_LEVEL
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.api import handle
from natskern.kernel.jetstream.consumers import close_consumers, ensure_loaded
from natskern.kernel.jetstream.directget import MirrorDirect, direct_get, direct_get_cached
from natskern.kernel.jetstream.limits import AccountLimitChecks, AccountLimits, reserved
from natskern.kernel.jetstream.sourcing import SourceTask
from natskern.kernel.jetstream.sourcing_remote import RemoteSourceTask
from natskern.kernel.jetstream.storechoice import check_backend, check_backend_update, store_factory
from natskern.kernel.jetstream.stream import MSG_ID, Stream, store_config
from natskern.kernel.jetstream.streamconfig import StreamConfig, decode_request
from natskern.kernel.jetstream.usage import JetStreamUsage, account_usage, server_usage
from natskern.kernel.jetstream.wire import dumps, format_time, to_wire
from natskern.kernel.protocol.headers import header_value
from natskern.kernel.store.api import StoreError, StreamStoreFactory
from natskern.kernel.subjects.transform import MappingFunction

__all__ = ["DEFAULT_MAX_CONSUMERS", "AccountJetStream", "JetStream", "JetStreamSettings"]

log = logging.getLogger("natskern.jetstream")

API_SUBJECT: Final = b"$JS.API.>"
_DIRECT: Final = b"$JS.API.DIRECT.GET."
_META: Final = "meta.json"
#: How many of the newest messages a restart scans to rebuild the dedupe window.
_DEDUPE_SCAN: Final = 100_000
#: nats-server 2.15's ``default_max_consumers`` when the config does not set one.
DEFAULT_MAX_CONSUMERS: Final = 1000


@dataclass
class JetStreamSettings:
    """What the engine needs from the server's configuration."""

    store_dir: str
    storage: Mapping[str, StreamStoreFactory]
    functions: Mapping[str, MappingFunction]
    server_name: str = ""
    domain: str = ""
    sync: str | int = "always"
    max_duplicate_window: int = 0
    #: nats-server 2.15's ``limits { default_max_consumers }``: the consumer cap of a
    #: stream without its own ``max_consumers`` (1000 by default; ``-1``: none).
    default_max_consumers: int = DEFAULT_MAX_CONSUMERS
    version: str = ADVERTISED_VERSION
    #: Server-wide limits on reserved bytes (``-1``: none).
    max_memory: int = -1
    max_store: int = -1
    #: Per-account ``jetstream`` values (``accounts.<name>.jetstream``); None: no accounts
    #: configured, so the global account has JetStream.
    accounts: Mapping[str, Any] | None = None


class AccountJetStream(AccountLimitChecks):
    """One account's JetStream: its streams, its API responder and their tasks."""

    def __init__(
        self,
        account: Any,
        settings: JetStreamSettings,
        limits: AccountLimits | None = None,
        engine: JetStream | None = None,
    ) -> None:
        self.account = account
        self.settings = settings
        #: The account's limits; None: JetStream is off in this account (API answers 10039).
        self.limits = limits
        self.engine = engine
        self.functions = settings.functions
        self.server_name = settings.server_name
        self.domain = settings.domain
        self.version = settings.version
        self.directory = os.path.join(settings.store_dir, "jetstream", account.name, "streams")
        self.client = InternalClient(account, f"{account.name} JetStream", kind="JetStream")
        self.streams: dict[str, Stream] = {}
        #: Streams of the store that could not be reopened at start: name -> why (``/healthz``).
        self.unrecovered: dict[str, str] = {}
        self.api_total = 0
        self.api_errors = 0
        self._ingest: dict[str, list[tuple[InternalSubscriber, asyncio.Task[None]]]] = {}
        self.sourcing: dict[str, list[SourceTask]] = {}
        self.mirror_direct = MirrorDirect()
        self._api: Subscription | None = None
        self._domain_prefix = b""
        self._requests: deque[tuple[bytes, bytes, bytes | None, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self._api_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Reopen the account's streams, then start answering ``$JS.API``."""
        if self.limits is not None and os.path.isdir(self.directory):
            for name in sorted(os.listdir(self.directory)):
                try:
                    await self._recover(name)
                except StoreError as exc:  # the store says what is wrong: no traceback
                    log.error("JetStream: could not recover stream %r: %s", name, exc)
                    self.unrecovered[name] = str(exc) or type(exc).__name__
                except Exception as exc:
                    log.exception("JetStream: could not recover stream %r", name)
                    self.unrecovered[name] = str(exc) or type(exc).__name__
        self._api = self.client.subscribe(API_SUBJECT, self._on_api)
        if self.domain:
            # ``$JS.<domain>.API.>`` is the same API, reached through the domain's prefix.
            prefix = b"$JS.%s.API." % self.domain.encode()
            self.client.subscribe(prefix + b">", self._on_domain_api)
            self._domain_prefix = prefix
        self._api_task = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Stop the API and the ingest tasks, close every store (their data stays)."""
        if self._api is not None:
            self.client.remove_subscription(self._api)
        if self._api_task is not None:
            self._api_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._api_task
        for name in list(self.streams):
            await self._stop_sourcing(name)
        for name in list(self.streams):
            await self._stop_ingest(name)
            stream = self.streams.pop(name)
            async with stream.lock:
                await stream.drain()
            await close_consumers(stream)
            await stream.store.close()
        self.client.close()

    def _on_domain_api(
        self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
    ) -> bool:
        """Router callback for ``$JS.<domain>.API.>``: served as ``$JS.API.>``."""
        return self._on_api(b"$JS.API." + subject[len(self._domain_prefix) :], reply, hdr, payload)

    def _on_api(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
        """Router callback: queue a request; a direct get nobody serves is not taken (503)."""
        if subject.startswith(_DIRECT):
            name_b, dot, key = subject[len(_DIRECT) :].partition(b".")
            stream = self.mirror_direct.pick(self.streams, name_b.decode(errors="replace"))
            if stream is None:
                return False
            if dot and not payload and not hdr and reply and not self._requests:
                # A KV get: answered now when the message is in memory (in order: only
                # while no request waits in the queue).
                answer = direct_get_cached(stream, key.decode(errors="replace"))
                if answer is not None:
                    self.client.publish(reply, answer[1], b"", answer[0])
                    return True
        self._requests.append((subject, reply, hdr, payload))
        self._wakeup.set()
        return True

    async def _serve(self) -> None:
        requests = self._requests
        while True:
            if not requests:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            subject, reply, hdr, payload = requests.popleft()
            if not reply:
                continue
            try:
                if subject.startswith(_DIRECT):
                    await self._direct(subject, reply, hdr, payload)
                    continue
                answer = await handle(self, subject, hdr, payload)
            except Exception:
                log.exception("JetStream API request %r failed", subject)
                continue
            if answer is not None:
                self.client.publish(reply, answer, b"", getattr(answer, "headers", None))

    async def _direct(self, subject: bytes, reply: bytes, hdr: bytes | None, body: bytes) -> None:
        rest = subject[len(_DIRECT) :].decode(errors="replace")
        name, dot, key = rest.partition(".")
        stream = self.mirror_direct.pick(self.streams, name)
        if stream is None:
            return
        for block, payload in await direct_get(stream, key if dot else None, hdr, body):
            self.client.publish(reply, payload, b"", block or None)

    # -- API helpers -----------------------------------------------------------------------

    def check_options(self) -> dict[str, Any]:
        """Keyword arguments of the config checks: other streams, mapping functions, limits."""
        streams = self.streams

        def lookup(name: str) -> StreamConfig | None:
            stream = streams.get(name)
            return stream.config if stream is not None else None

        limits = self.limits
        return {
            "lookup": lookup,
            "functions": self.functions,
            "max_duplicate_window": self.settings.max_duplicate_window,
            "max_bytes_limits": limits.max_bytes_limits if limits is not None else None,
        }

    def account_info(self) -> dict[str, Any]:
        """``$JS.API.INFO``'s fields (usage from the stores' states)."""
        memory = storage = 0
        for stream in self.streams.values():
            used = stream.store.state().bytes
            if stream.config.storage == "memory":
                memory += used
            else:
                storage += used
        limits = (self.limits or AccountLimits()).to_json()
        out: dict[str, Any] = {
            "memory": memory,
            "storage": storage,
            "reserved_memory": self._reserved("memory"),
            "reserved_storage": self._reserved("file"),
            "streams": len(self.streams),
            "consumers": sum(s.consumer_count for s in self.streams.values()),
            "limits": limits,
        }
        if self.domain:
            out["domain"] = self.domain
        out["api"] = {"level": API_LEVEL, "total": self.api_total, "errors": self.api_errors}
        return out

    def usage(self) -> JetStreamUsage:
        """Read-only figures for monitoring: bytes in use and reserved, counts, API counters."""
        return account_usage(self)

    # -- streams ---------------------------------------------------------------------------

    def _dir(self, name: str) -> str:
        return os.path.join(self.directory, name)

    async def _open(self, cfg: StreamConfig, created: int) -> Stream:
        factory = store_factory(self.settings.storage, self.account, cfg)
        store = await factory(store_config(cfg), self._dir(cfg.name), sync=self.settings.sync)
        stream = Stream(
            cfg,
            store,
            created=created,
            functions=self.functions,
            domain=self.domain,
            republish=self._republish,
        )
        limits = self.limits
        if limits is not None and (limits.max_memory >= 0 or limits.max_store >= 0):
            stream.usage_check = self._usage_check
        self.streams[cfg.name] = stream
        self._start_ingest(stream)
        self._start_sourcing(stream)
        return stream

    # -- mirrors and sources ---------------------------------------------------------------

    def _start_sourcing(self, stream: Stream) -> None:
        cfg = stream.config
        tasks: list[SourceTask] = []
        listed = [s for s in cfg.sources if s is not None]
        for src, mirror in [(cfg.mirror, True)] + [(s, False) for s in listed]:
            if src is None:
                continue
            if src.external is None:
                tasks.append(
                    SourceTask(
                        stream, src, self.streams.get, mirror=mirror, functions=self.functions
                    )
                )
            else:  # another account's stream, through this account's imports
                tasks.append(
                    RemoteSourceTask(
                        stream,
                        src,
                        self.client,
                        mirror=mirror,
                        functions=self.functions,
                        domain=self.domain,
                        sources=listed,
                    )
                )
        for task in tasks:
            task.start()
        self.sourcing[cfg.name] = tasks
        if cfg.mirror is not None and cfg.mirror_direct:
            self.mirror_direct.add(cfg.name, cfg.mirror.name)

    async def _stop_sourcing(self, name: str) -> None:
        self.mirror_direct.remove(name)
        for task in self.sourcing.pop(name, []):
            await task.stop()

    def source_info(self, stream: Stream) -> dict[str, Any]:
        """STREAM.INFO's ``mirror`` / ``sources`` for ``stream``."""
        tasks = self.sourcing.get(stream.config.name, [])
        out: dict[str, Any] = {}
        mirrors = [t.info() for t in tasks if t.mirror]
        if mirrors:
            out["mirror"] = mirrors[0]
        sources = [t.info() for t in tasks if not t.mirror]
        if sources:
            out["sources"] = sources
        return out

    async def add_stream(self, cfg: StreamConfig, *, created: int = 0) -> Stream:
        """Create a checked stream: its directory, metadata, store and ingest.

        ``created`` (ns) is the creation time to keep (a restore's); 0: now.
        """
        check_backend(self.settings.storage, self.account, cfg)  # (before anything is made)
        created = created or time.time_ns()
        os.makedirs(self._dir(cfg.name), exist_ok=True)
        await self._save_meta(cfg, created)
        stream = await self._open(cfg, created)
        self.advise("CREATED", cfg.name, "create")
        return stream

    def advise(self, event: str, name: str, action: str) -> None:
        """Publish a ``stream_action`` advisory on ``$JS.EVENT.ADVISORY.STREAM.<event>.<name>``."""
        body: dict[str, Any] = {
            "type": "io.nats.jetstream.advisory.v1.stream_action",
            "id": _nuid(),
            "timestamp": format_time(time.time_ns()),
            "stream": name,
            "action": action,
        }
        if self.domain:
            body["domain"] = self.domain
        subject = f"$JS.EVENT.ADVISORY.STREAM.{event}.{name}".encode()
        self.client.publish(subject, dumps(body))

    async def update_stream(self, stream: Stream, cfg: StreamConfig) -> None:
        """Apply a checked new config to ``stream``."""
        check_backend_update(
            self.settings.storage, self.account, stream.config, cfg, self._dir(cfg.name)
        )
        async with stream.lock:
            await stream.drain()
            old_subjects = stream.config.subjects
            await stream.store.update_config(store_config(cfg))
            stream.apply_config(cfg)
            await self._save_meta(cfg, stream.created)
        self.advise("UPDATED", cfg.name, "modify")
        if cfg.subjects != old_subjects:
            await self._stop_ingest(cfg.name)
            self._start_ingest(stream)
        await self._stop_sourcing(cfg.name)
        self._start_sourcing(stream)

    async def delete_stream(self, name: str) -> None:
        """Remove a stream, its messages and its directory."""
        await self._stop_ingest(name)
        await self._stop_sourcing(name)
        stream = self.streams.pop(name)
        async with stream.lock:
            await stream.drain()
            await close_consumers(stream, delete=True)
            await stream.store.delete()
        await asyncio.to_thread(shutil.rmtree, self._dir(name), True)
        self.advise("DELETED", name, "delete")

    async def _recover(self, name: str) -> None:
        path = os.path.join(self._dir(name), _META)
        if not os.path.exists(path):
            return
        with open(path, "rb") as f:
            meta = json.loads(f.read())
        cfg, _ = decode_request(dumps(meta["config"]))
        stream = await self._open(cfg, int(meta["created"]))
        await self._rebuild_dedupe(stream)
        await ensure_loaded(self, stream)

    async def _rebuild_dedupe(self, stream: Stream) -> None:
        """After a restart: the ``Nats-Msg-Id`` window, and what markers need to know."""
        window = stream.config.duplicate_window
        markers = stream.config.subject_delete_marker_ttl > 0
        state = stream.store.state()
        if not (window or markers) or not state.messages:
            return
        since = time.time_ns() - window
        seq = state.first_seq if markers else max(state.first_seq, state.last_seq - _DEDUPE_SCAN)
        while True:
            msg = await stream.store.load_next_msg("", seq)
            if msg is None:
                break
            seq = msg.seq + 1
            if window and msg.ts >= since and msg.headers:
                msg_id = header_value(msg.headers, MSG_ID)
                if msg_id:
                    stream.remember_msg_id(msg_id.decode(errors="surrogateescape"), msg.seq, msg.ts)
            if markers:
                stream.track_expiry(msg.seq, msg.ts, msg.headers)

    async def _save_meta(self, cfg: StreamConfig, created: int) -> None:
        data = dumps({"config": to_wire(cfg), "created": created})
        path = os.path.join(self._dir(cfg.name), _META)
        await asyncio.to_thread(_write_atomic, path, data)

    # -- ingest ----------------------------------------------------------------------------

    def _start_ingest(self, stream: Stream) -> None:
        """Capture the stream's subjects into one queue (arrival order across all of them),
        drained by one ingest task; while the stream is idle, plain publishes are staged at
        once instead (``Stream.submit_now``)."""
        entries: list[tuple[InternalSubscriber, asyncio.Task[None]]] = []
        self._ingest[stream.config.name] = entries
        subjects = [subject.encode() for subject in stream.config.subjects]
        if not subjects:
            return

        def overflow(subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> None:
            self._overflow(stream, reply)

        sub = self.client.capture(subjects, on_overflow=overflow)
        entries.append((sub, asyncio.create_task(self._run_ingest(stream, sub))))
        publish, many = self.client.publish, self.client.publish_replies
        lock = stream.lock
        queue = sub.queue

        def direct(batch: list[QueuedMsg]) -> bool:
            # Only while the stream is idle: nothing queued (it goes first), nobody holding
            # or waiting for its lock (an API change, the ingest task).
            if queue or lock.busy():
                return False
            try:
                return stream.submit_now(batch, publish, many)
            except Exception:
                log.exception("JetStream: ingest into %r failed", stream.config.name)
                return True

        sub.direct = direct

    async def _stop_ingest(self, name: str) -> None:
        for sub, task in self._ingest.pop(name, []):
            sub.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_ingest(self, stream: Stream, sub: InternalSubscriber) -> None:
        publish, many = self.client.publish, self.client.publish_replies
        async for batch in sub:
            try:
                async with stream.lock:
                    await stream.submit(batch, publish, many)
            except Exception:
                log.exception("JetStream: ingest into %r failed", stream.config.name)

    def _overflow(self, stream: Stream, reply: bytes) -> None:
        if reply and not stream.config.no_ack:
            err = E.INSUFFICIENT_RESOURCES()
            body = {"error": err.to_json(), "stream": stream.config.name, "seq": 0}
            self.client.publish(reply, dumps(body))

    def _republish(self, subject: bytes, hdr: bytes, payload: bytes) -> None:
        self.client.publish(subject, payload, b"", hdr)


_NUID_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _nuid() -> str:
    """A 22-character random identifier in the alphabet of nats-server's NUIDs."""
    return "".join(secrets.choice(_NUID_ALPHABET) for _ in range(22))


def _write_atomic(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JetStream:
    """JetStream for a broker's accounts (all but the system account)."""

    def __init__(self, broker: Any, settings: JetStreamSettings) -> None:
        self.broker = broker
        self.settings = settings
        self.accounts: dict[str, AccountJetStream] = {}

    async def start(self) -> None:
        """Start JetStream in every account (answering 10039 where it is off)."""
        system = getattr(self.broker, "system_account_name", None)
        configured = self.settings.accounts
        for name in list(self.broker.accounts):
            if name == system:
                continue
            if configured is None:
                limits: AccountLimits | None = AccountLimits()
            else:
                limits = AccountLimits.from_config((configured.get(name) or {}).get("jetstream"))
            await self.enable(self.broker.get_account(name), limits)

    async def enable(self, account: Any, limits: AccountLimits | None = None) -> AccountJetStream:
        """Start JetStream in ``account`` with ``limits`` (None: off) (idempotent)."""
        ajs = self.accounts.get(account.name)
        if ajs is None:
            ajs = AccountJetStream(account, self.settings, limits or AccountLimits(), self)
            if limits is None and self.settings.accounts is not None:
                ajs.limits = None
            self.accounts[account.name] = ajs
            await ajs.start()
        return ajs

    def reserved(self, storage: str, *, account: AccountJetStream, skip: str = "") -> int:
        """Bytes reserved server-wide, ``skip`` of ``account`` left out."""
        return sum(
            reserved(
                (s.config for s in a.streams.values()),
                storage,
                skip=skip if a is account else "",
            )
            for a in self.accounts.values()
        )

    def usage(self) -> JetStreamUsage:
        """Read-only figures for monitoring: every account with JetStream, added up."""
        return server_usage(self)

    async def stop(self) -> None:
        """Stop every account's JetStream (first their sources, while every account's API
        still answers: a source in another account asks its origin to drop its consumer)."""
        for ajs in self.accounts.values():
            for name in list(ajs.sourcing):
                await ajs._stop_sourcing(name)
        for ajs in self.accounts.values():
            await ajs.stop()
        self.accounts.clear()

    async def __aenter__(self) -> JetStream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
