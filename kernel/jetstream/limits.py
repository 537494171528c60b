"""Account and server JetStream limits, checked as nats-server checks them.

:class:`AccountLimits` is an account's ``jetstream`` configuration (nats-server's
``JetStreamAccountLimits``); :class:`Reservations` adds up what the streams of an
account (and of the server) reserve with ``max_bytes``.  The checks mirror
``jsNonClusteredStreamLimitsCheck``, ``checkLimits``/``checkBytesLimits`` and
``maxBytesLimits``: ``10027`` maximum streams, ``10026`` maximum consumers, ``10028`` /
``10047`` memory / storage reservations, ``10113`` max bytes required, ``10122`` stream
max bytes over the account's per-stream limit, ``10002`` usage at publish time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.store.base import MEMORY_OVERHEAD, record_size

__all__ = ["AccountLimitChecks", "AccountLimits", "check_bytes", "check_limits", "reserved"]


@dataclass(slots=True)
class AccountLimits:
    """An account's JetStream limits (``-1``: unlimited), with the config's key names."""

    max_memory: int = -1
    max_store: int = -1
    max_streams: int = -1
    max_consumers: int = -1
    max_ack_pending: int = -1
    max_bytes_required: bool = False
    mem_max_stream_bytes: int = -1
    disk_max_stream_bytes: int = -1

    @classmethod
    def from_config(cls, value: Any) -> AccountLimits | None:
        """The limits of an account's ``jetstream`` value; None when JetStream is off."""
        if value in (None, False, "disabled"):
            return None
        if value in (True, "enabled"):
            return cls()
        if isinstance(value, dict):
            return cls(**{k: v for k, v in value.items() if k in cls.__slots__})  # type: ignore[attr-defined]
        return None

    def to_json(self) -> dict[str, Any]:
        """The ``limits`` object of ``$JS.API.INFO``."""
        return {
            "max_memory": self.max_memory,
            "max_storage": self.max_store,
            "max_streams": self.max_streams,
            "max_consumers": self.max_consumers,
            "max_ack_pending": self.max_ack_pending,
            "memory_max_stream_bytes": self.mem_max_stream_bytes,
            "storage_max_stream_bytes": self.disk_max_stream_bytes,
            "max_bytes_required": self.max_bytes_required,
        }

    def max_bytes_limits(self, cfg: StreamConfig) -> tuple[bool, int]:
        """``(max_bytes_required, per-stream max bytes)`` for a stream of ``cfg``'s storage."""
        limit = self.mem_max_stream_bytes if cfg.storage == "memory" else self.disk_max_stream_bytes
        return self.max_bytes_required, limit


def reserved(configs: Iterable[StreamConfig], storage: str, *, skip: str = "") -> int:
    """Bytes reserved by the streams of ``storage`` that set ``max_bytes`` (but ``skip``)."""
    return sum(
        c.max_bytes for c in configs if c.name != skip and c.storage == storage and c.max_bytes > 0
    )


def check_bytes(
    limits: AccountLimits,
    add: int,
    storage: str,
    current: int,
    *,
    server_limit: int = -1,
    server_current: int = 0,
) -> None:
    """nats-server's ``checkBytesLimits``: room for ``add`` more reserved bytes, or ApiError."""
    if add < 0:
        add = 1
    account = limits.max_memory if storage == "memory" else limits.max_store
    failed = E.MEMORY_RESOURCES_EXCEEDED if storage == "memory" else E.STORAGE_RESOURCES_EXCEEDED
    if account >= 0 and (current > account or add > account - current):
        raise failed()
    if server_limit >= 0 and (server_current > server_limit or add > server_limit - server_current):
        raise failed()


def check_limits(
    limits: AccountLimits,
    cfg: StreamConfig,
    current: int,
    *,
    add: int | None = None,
    server_limit: int = -1,
    server_current: int = 0,
) -> None:
    """nats-server's ``checkLimits``: consumers of the stream, then its byte reservation."""
    if (
        cfg.max_consumers > 0
        and limits.max_consumers > 0
        and cfg.max_consumers > limits.max_consumers
    ):
        raise E.MAXIMUM_CONSUMERS_LIMIT()
    check_bytes(
        limits,
        cfg.max_bytes if add is None else add,
        cfg.storage,
        current,
        server_limit=server_limit,
        server_current=server_current,
    )


class AccountLimitChecks:
    """The limit checks of an account's JetStream (a mixin of ``AccountJetStream``)."""

    limits: AccountLimits | None
    settings: Any
    engine: Any
    streams: dict[str, Any]

    def _reserved(self, storage: str, skip: str = "") -> int:
        return reserved((s.config for s in self.streams.values()), storage, skip=skip)

    def _server(self, storage: str, skip: str = "") -> dict[str, int]:
        settings = self.settings
        limit = settings.max_memory if storage == "memory" else settings.max_store
        used = self.engine.reserved(storage, account=self, skip=skip) if self.engine else 0
        return {"server_limit": limit, "server_current": used}

    def check_new_stream(self, raw: StreamConfig) -> None:
        """The account's limits on a create request as sent (``10027``, ``10026``, ``10028``...)."""
        limits = self.limits
        assert limits is not None
        others = sum(1 for n in self.streams if n != raw.name)
        if limits.max_streams > 0 and others >= limits.max_streams:
            raise E.MAXIMUM_STREAMS_LIMIT()
        current = self._reserved(raw.storage, raw.name)
        check_limits(limits, raw, current, **self._server(raw.storage, raw.name))

    def check_stream_limits(self, cfg: StreamConfig) -> None:
        """The account's limits on a checked new stream, and the storage it names."""
        limits = self.limits
        assert limits is not None
        current = self._reserved(cfg.storage, cfg.name)
        check_limits(limits, cfg, current, **self._server(cfg.storage, cfg.name))
        if cfg.storage not in self.settings.storage:
            raise E.STREAM_CREATE(err=f"storage {cfg.storage!r} is not available")

    def _usage_check(
        self, storage: str, subject: str, hdr: bytes | None, payload: bytes
    ) -> ApiError | None:
        """nats-server's ``wouldExceedLimits``: the account's bytes in use plus this message."""
        limits = self.limits
        if limits is None:
            return None
        limit = limits.max_memory if storage == "memory" else limits.max_store
        if limit < 0:
            return None
        used = sum(
            s.store.state().bytes for s in self.streams.values() if s.config.storage == storage
        )
        if used + _nats_msg_size(storage, subject, hdr, payload) > limit:
            return E.ACCOUNT_RESOURCES_EXCEEDED()
        return None

    def check_update_limits(self, old: StreamConfig, new: StreamConfig) -> None:
        """nats-server's update reservation: only the growth of ``max_bytes`` is added."""
        limits = self.limits
        assert limits is not None
        diff = max(max(new.max_bytes, 0) - max(old.max_bytes, 0), 0)
        current = self._reserved(new.storage, new.name) + max(new.max_bytes - diff, 0)
        check_limits(limits, new, current, add=diff, **self._server(new.storage, new.name))


def _nats_msg_size(storage: str, subject: str, hdr: bytes | None, payload: bytes) -> int:
    """What nats-server's stores count for one message (its usage checks use these), the
    same figures the stores' ``bytes`` count: the memory backend's ``memStoreMsgSize``,
    the durable backends' ``fileStoreMsgSize``."""
    if storage == "memory":
        n = len(subject) if subject.isascii() else len(subject.encode())
        return MEMORY_OVERHEAD + n + len(hdr or b"") + len(payload)
    return record_size(subject, hdr, payload)
