"""The checks a published message goes through before the store, for the stream.

:class:`AcceptMixin` gives :class:`~natskern.kernel.jetstream.stream.Stream` its
``_accept``: nats-server's checks in its order (``processJetStreamMsg``, as nats-server
2.15.1 answers): sealed, ``max_msg_size``, header size, ``Nats-Expected-Stream``, TTL
allowed, ``Nats-Expected-Last-Subject-Sequence`` (``-Subject``),
``Nats-Expected-Last-Sequence``, ``Nats-Msg-Id`` dedupe, ``Nats-Expected-Last-Msg-Id``,
``Nats-Rollup``, interest retention without consumers, the account's usage limits,
``Nats-TTL``, then the store (staged at once, or a hand-driven write); and the answers to
duplicates (``_duplicate``, ``_dup_answer``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.stream_markers import TTL, parse_ttl
from natskern.kernel.jetstream.stream_writes import _Dup, _Staged, _Write
from natskern.kernel.protocol.headers import header_value
from natskern.kernel.store.api import StoreError

__all__ = [
    "EXPECTED_LAST_MSG_ID",
    "EXPECTED_LAST_SEQ",
    "EXPECTED_LAST_SUBJ_SEQ",
    "EXPECTED_LAST_SUBJ_SEQ_SUBJ",
    "EXPECTED_STREAM",
    "MSG_ID",
    "ROLLUP",
    "STATEFUL",
    "AcceptMixin",
]

MSG_ID: Final = b"Nats-Msg-Id"
EXPECTED_STREAM: Final = b"Nats-Expected-Stream"
EXPECTED_LAST_SEQ: Final = b"Nats-Expected-Last-Sequence"
EXPECTED_LAST_SUBJ_SEQ: Final = b"Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SUBJ_SEQ_SUBJ: Final = b"Nats-Expected-Last-Subject-Sequence-Subject"
EXPECTED_LAST_MSG_ID: Final = b"Nats-Expected-Last-Msg-Id"
ROLLUP: Final = b"Nats-Rollup"
#: Headers whose check reads the stream's state (the writes before must be done).
STATEFUL: Final = (EXPECTED_LAST_SEQ, EXPECTED_LAST_SUBJ_SEQ, EXPECTED_LAST_MSG_ID)
_MAX_HEADER: Final = 65535
_SECOND: Final = 1_000_000_000
_DIGITS: Final = re.compile(rb"[0-9]+")
_now = time.time_ns


def _parse_int(raw: bytes) -> int:
    """nats-server's ``parseInt64`` as ``uint64``: anything but digits is ``2**64 - 1``."""
    return int(raw) if _DIGITS.fullmatch(raw) else 2**64 - 1


def _set_header(hdr: bytes, name: bytes, value: bytes) -> bytes:
    """``hdr`` without ``name`` lines and with ``name: value`` appended."""
    lines = [
        line for line in hdr[: len(hdr) - 2].split(b"\r\n") if not line.startswith(name + b":")
    ]
    lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class AcceptMixin:
    """The message checks of :class:`~natskern.kernel.jetstream.stream.Stream`."""

    def _accept(
        self: Any, subject_b: bytes, hdr: bytes | None, payload: bytes
    ) -> bytes | _Write | _Dup | None:
        """Check one message (in nats-server's order) and hand it to the store."""
        cfg = self.config
        if self._itr is not None:
            mapped = self._itr.apply(subject_b)
            if mapped:
                subject_b = mapped
        subject = subject_b.decode()
        if cfg.sealed:
            return self._error_ack(E.STREAM_SEALED())
        # nats-server 2.15.1 checks the sizes before any header (traced).
        size = len(payload) + (len(hdr) if hdr else 0)
        if cfg.max_msg_size >= 0 and size > cfg.max_msg_size:
            return self._error_ack(E.STREAM_MESSAGE_EXCEEDS_MAXIMUM())
        if hdr and len(hdr) > _MAX_HEADER:
            return self._error_ack(E.STREAM_HEADER_EXCEEDS_MAXIMUM())
        msg_id = ""
        ttl = 0
        rollup = b""
        if hdr:
            expected = header_value(hdr, EXPECTED_STREAM)
            if expected and expected.decode() != cfg.name:
                return self._error_ack(E.STREAM_NOT_MATCH())
            raw_ttl = header_value(hdr, TTL)
            if raw_ttl and not cfg.allow_msg_ttl:
                try:
                    if parse_ttl(raw_ttl) != 0:
                        return self._error_ack(E.MESSAGE_TTL_DISABLED())
                except ValueError:
                    pass
            want = header_value(hdr, EXPECTED_LAST_SUBJ_SEQ)
            for_subject = header_value(hdr, EXPECTED_LAST_SUBJ_SEQ_SUBJ)
            if want:
                target = for_subject.decode() if for_subject else subject
                last = self.store.filtered_state(target).last
                if last != _parse_int(want):
                    return self._error_ack(E.STREAM_WRONG_LAST_SEQUENCE(seq=last))
            elif for_subject:
                return self._error_ack(E.STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID())
            want = header_value(hdr, EXPECTED_LAST_SEQ)
            if want:
                last = self.store.state().last_seq
                if _parse_int(want) != last:
                    return self._error_ack(E.STREAM_WRONG_LAST_SEQUENCE(seq=last))
            raw_id = header_value(hdr, MSG_ID)
            if raw_id:
                msg_id = raw_id.decode(errors="surrogateescape")
                dup = self._duplicate(msg_id)
                if dup is not None:
                    return dup
            want = header_value(hdr, EXPECTED_LAST_MSG_ID)
            if want and want.decode(errors="surrogateescape") != self._last_msg_id:
                return self._error_ack(E.STREAM_WRONG_LAST_MSG_ID(id=self._last_msg_id))
            rollup = (header_value(hdr, ROLLUP) or b"").lower()
            if rollup:
                if not cfg.allow_rollup_hdrs or cfg.deny_purge:
                    return self._error_ack(E.STREAM_ROLLUP_FAILED(err="rollup not permitted"))
                if rollup not in (b"sub", b"all"):
                    text = rollup.decode(errors="replace")
                    return self._error_ack(
                        E.STREAM_ROLLUP_FAILED(err=f'rollup value invalid: "{text}"')
                    )
        if cfg.retention == "interest" and not any(
            c.matches(subject) for c in self.consumers.values()
        ):
            return self._spawn(self._skip(msg_id))
        if self.usage_check is not None:
            refused = self.usage_check(cfg.storage, subject, hdr, payload)
            if refused is not None:
                return self._error_ack(refused)
        if hdr:
            raw_ttl = header_value(hdr, TTL)
            if raw_ttl:
                try:
                    ttl = parse_ttl(raw_ttl)
                except ValueError:
                    return self._error_ack(E.MESSAGE_TTL_INVALID())
                marker = cfg.subject_delete_marker_ttl // _SECOND
                if ttl > 0 and marker and cfg.max_msgs_per_subject != 1 and ttl < marker:
                    ttl = marker
                    hdr = _set_header(hdr, TTL, b"%d" % ttl)
        stage = self._stage_msg
        if stage is not None and not rollup and self._rtr is None:
            try:
                seq, ts, commit = stage(subject, hdr, payload, ttl=-1 if ttl < 0 else ttl * _SECOND)
            except StoreError as err:
                return self._error_ack(E.STREAM_STORE_FAILED(err=err.description))
            if commit is None:
                self._stored(subject, hdr, ttl, msg_id, seq, ts)
                return self._ack(seq)
            result: Any = _Staged(commit, subject, hdr, ttl, msg_id, seq, ts)
        else:
            result = self._spawn(self._store(subject, hdr, payload, ttl, msg_id, rollup))
        if msg_id and type(result) in (_Write, _Staged):
            self._pending_ids[msg_id] = result
        return result

    def _duplicate(self: Any, msg_id: str) -> bytes | _Dup | None:
        pending = self._pending_ids.get(msg_id)
        if pending is not None:
            return _Dup(pending, msg_id)
        self._expire_ids(_now())
        seen = self._dedupe.get(msg_id)
        if seen is None:
            return None
        return self._ack_prefix + b'%d,"duplicate": true}' % seen[0]

    def _dup_answer(self: Any, dup: _Dup) -> bytes | None:
        """The answer to a duplicate of a message that was still being written."""
        seen = self._dedupe.get(dup.msg_id)
        if seen is not None:
            return self._ack_prefix + b'%d,"duplicate": true}' % seen[0]
        return dup.first.value  # the first failed: the duplicate gets its answer
