"""Limits and discard rules of a :class:`~natskern.kernel.store.base.LogStore` (jetstream-api §4.3).

Before a message is staged, :meth:`Limits._check_new` refuses it the way
nats-server does: ``max_msg_size`` (10054), and with ``discard: new`` the
``max_msgs``/``max_bytes`` limits (10077), except that a subject already at
``max_msgs_per_subject`` replaces its oldest message (the KV exception), and
``discard_new_per_subject`` refuses a subject at its limit unless the message
carries ``Nats-Rollup``.  After it is staged, :meth:`Limits._enforce` removes the
oldest messages of the subject, then of the stream, until every limit holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from natskern.kernel.store.api import (
    MaxBytesExceededError,
    MaxMsgsExceededError,
    MaxMsgSizeExceededError,
    MaxMsgsPerSubjectExceededError,
    StoreConfig,
)
from natskern.kernel.store.index import MsgIndex

__all__ = ["Limits"]


class Limits:
    """The limit checks (a mixin of ``LogStore``; the limits come from ``_apply_config``)."""

    config: StoreConfig
    _idx: MsgIndex
    _max_msgs: int
    _max_bytes: int
    _max_per: int
    _max_size: int
    _discard_new: bool
    _limited: bool

    if TYPE_CHECKING:  # provided by the removals mixin

        def _drop(self, seq: int, *, erase: bool = False, report: bool = True) -> bool:
            raise NotImplementedError

    def _check_new(self, sid: int, size: int, headers: bytes | None, payload: bytes) -> None:
        if self._max_size >= 0 and len(payload) + (len(headers) if headers else 0) > self._max_size:
            raise MaxMsgSizeExceededError()
        if not self._discard_new:
            return
        idx = self._idx
        asl = bool(self._max_per) and idx.sub_count[sid] >= self._max_per
        rollup = bool(headers) and b"Nats-Rollup" in headers  # type: ignore[operator]
        if asl and self.config.discard_new_per_subject and not rollup:
            raise MaxMsgsPerSubjectExceededError()
        if self._max_msgs and idx.msgs >= self._max_msgs and not asl:
            raise MaxMsgsExceededError()
        if self._max_bytes and idx.bytes + size > self._max_bytes:
            if not asl:
                raise MaxBytesExceededError()
            oldest = idx.size[idx.sub_first[sid] - idx.base]
            if idx.bytes - oldest + size > self._max_bytes:
                raise MaxBytesExceededError()

    def _enforce(self, sid: int) -> None:
        idx = self._idx
        if self._max_per:
            while idx.sub_count[sid] > self._max_per:
                self._drop(idx.sub_first[sid])
        if self._max_msgs:
            while idx.msgs > self._max_msgs:
                self._drop(idx.first_seq())
        if self._max_bytes:
            while idx.bytes > self._max_bytes and idx.msgs:
                self._drop(idx.first_seq())

    def _enforce_all(self) -> None:
        if self._max_per:
            for sid in range(len(self._idx.names)):
                if self._idx.sub_count[sid] > self._max_per:
                    self._enforce(sid)
        if self._limited:
            self._enforce(0) if self._idx.names else None
