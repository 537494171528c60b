"""The ``CONSUMER.CREATE`` request checks in nats-server's order (``jsConsumerCreateRequest``
and ``addConsumerWithAssignment``), apart from the running consumers they end in.

:func:`check_create` takes the request subject's tokens, the body, the stream's config
and the configs of the stream's consumers, and returns a :class:`CreatePlan`: the name,
the checked config (defaults set, static metadata), and whether it creates, updates or
returns an existing consumer unchanged.  The engine then applies it; the differential
tests drive the same function against nats-server 2.15.1.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.consumerconfig import (
    DEFAULT_INACTIVE,
    MAX_NAME_LEN,
    ConsumerConfig,
    check_config,
    check_update,
    copy_metadata,
    decode_create,
    filters_of,
    set_defaults,
    set_static_metadata,
)
from natskern.kernel.jetstream.streamcheck import is_valid_name
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.subjects.tokens import subjects_collide

__all__ = ["CreatePlan", "check_create", "new_name", "subject_parts"]

_ALPHABET: Final = string.ascii_letters + string.digits


def new_name() -> str:
    """A generated consumer name: 8 characters, like nats-server's ``createConsumerName``."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


@dataclass(slots=True)
class CreatePlan:
    """What a checked create request does: ``op`` is ``create``, ``update`` or ``same``."""

    name: str
    config: ConsumerConfig
    op: str


def subject_parts(tokens: list[str]) -> tuple[str, str, str, str]:
    """``(kind, stream, consumer, filter)`` of a create subject's tokens.

    ``kind``: ``legacy`` (``CONSUMER.CREATE.S``), ``durable`` (``DURABLE.CREATE.S.C``) or
    ``new`` (``CONSUMER.CREATE.S.C[.filter]``).  Raises ``10016`` for a durable create
    subject with the wrong number of tokens.
    """
    n = len(tokens)
    if tokens[3] == "DURABLE":
        if n != 7:
            raise E.CONSUMER_DURABLE_NAME_NOT_IN_SUBJECT()
        return "durable", tokens[5], tokens[6], ""
    if n == 5:
        return "legacy", tokens[4], "", ""
    return "new", tokens[4], tokens[5], ".".join(tokens[6:])


def _unsupported(cfg: ConsumerConfig) -> None:
    """Refuse what natskern does not implement (nats-server would store and honour it)."""
    if cfg.ack_policy == "flow_control":
        what = "flow control ack policy (ack_policy flow_control)"
    elif cfg.priority_policy in ("pinned_client", "prioritized"):
        what = f"priority policy {cfg.priority_policy}"
    else:
        return
    raise E.STREAM_INVALID_CONFIG(
        err=f"{what} not supported by this server (API level {API_LEVEL})"
    )


def _ephemeral_threshold(cfg: ConsumerConfig) -> None:
    """``updateInactiveThreshold``: an ephemeral always has one (5 s unless set)."""
    if not cfg.durable_name and cfg.inactive_threshold <= 0:
        cfg.inactive_threshold = DEFAULT_INACTIVE


def _partition_unique(name: str, filters: list[str], others: Mapping[str, ConsumerConfig]) -> bool:
    for other_name, other in others.items():
        if other_name == name:
            continue
        theirs = filters_of(other)
        if not theirs:
            return False
        for mine in filters:
            if any(subjects_collide(mine.encode(), t.encode()) for t in theirs):
                return False
    return True


def check_create(
    tokens: list[str],
    body: bytes,
    lookup: Callable[[str], StreamConfig | None],
    consumers: Callable[[str], Mapping[str, ConsumerConfig]],
    *,
    has_interest: Callable[[str], bool] | None = None,
    max_ack_pending: int = 0,
) -> tuple[str, CreatePlan]:
    """``(stream name, plan)`` for a create request, or the :class:`ApiError` to answer.

    ``lookup(stream)`` gives a stream's config (None: no such stream),
    ``consumers(stream)`` its consumers' configs by name.
    """
    req = decode_create(body)
    kind, stream_name, cname, filtered = subject_parts(tokens)
    cfg = req.config
    if kind == "legacy":
        cname = cfg.name
    if stream_name != req.stream_name:
        raise E.STREAM_MISMATCH()
    if cname and ("\\" in cname or "/" in cname):
        raise E.CONSUMER_NAME_CONTAINS_PATH_SEPARATORS()
    if kind == "durable":
        if not cfg.durable_name:
            raise E.CONSUMER_DURABLE_NAME_NOT_SET()
        if cname != cfg.durable_name:
            raise E.CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT()
        cfg.name = cname
    elif kind == "new":
        if cfg.durable_name and cname != cfg.durable_name:
            raise E.CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT()
        cfg.name = cname
    elif cfg.durable_name:
        raise E.CONSUMER_EPHEMERAL_WITH_DURABLE_NAME()
    if filtered and cfg.filter_subjects:
        raise E.CONSUMER_MULTIPLE_FILTERS_NOT_ALLOWED()
    if filtered and cfg.filter_subject != filtered:
        raise E.CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH()
    if cfg.num_replicas > 1:
        raise E.STREAM_REPLICAS_NOT_SUPPORTED()
    stream = lookup(req.stream_name)
    if stream is None:
        raise E.STREAM_NOT_FOUND()
    others = consumers(req.stream_name)
    existing = others.get(cname) if cname else None
    if existing is not None:
        cfg.pause_until = existing.pause_until
    set_static_metadata(cfg)
    return stream_name, _add(
        cfg, req.action, req.pedantic, stream, others, has_interest, max_ack_pending
    )


def _add(
    cfg: ConsumerConfig,
    action: str,
    pedantic: bool,
    stream: StreamConfig,
    others: Mapping[str, ConsumerConfig],
    has_interest: Callable[[str], bool] | None,
    max_ack_pending: int,
) -> CreatePlan:
    """``addConsumerWithAssignment`` up to the new consumer's store."""
    set_defaults(cfg, stream, pedantic=pedantic, max_ack_pending=max_ack_pending)
    check_config(cfg, stream, max_ack_pending=max_ack_pending)
    _unsupported(cfg)
    cname = cfg.durable_name or cfg.name
    if cname and cname in others:
        old = others[cname]
        if action == "create":
            probe = cfg.copy()
            copy_metadata(probe, old)
            if probe != old:
                raise E.CONSUMER_ALREADY_EXISTS()
        if stream.retention == "workqueue" and not _partition_unique(
            cname, filters_of(cfg), others
        ):
            raise E.CONSUMER_WQ_CONSUMER_NOT_UNIQUE()
        check_update(old, cfg, has_interest=has_interest)
        _ephemeral_threshold(cfg)
        return CreatePlan(cname, cfg, "same" if cfg == old else "update")
    if action == "update":
        raise E.CONSUMER_DOES_NOT_EXIST()
    if stream.max_consumers > 0 and len(others) >= stream.max_consumers:
        raise E.MAXIMUM_CONSUMERS_LIMIT()
    if stream.retention == "workqueue" and not cfg.direct and not cfg.sourcing:
        if cfg.ack_policy not in ("explicit", "flow_control"):
            raise E.CONSUMER_WQ_REQUIRES_EXPLICIT_ACK()
        if cfg.deliver_policy != "all":
            raise E.CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL()
        if others:
            filters = filters_of(cfg)
            if not filters:
                raise E.CONSUMER_WQ_MULTIPLE_UNFILTERED()
            if not _partition_unique(cname, filters, others):
                raise E.CONSUMER_WQ_CONSUMER_NOT_UNIQUE()
    if cfg.durable_name:
        if len(cfg.durable_name) > MAX_NAME_LEN:
            raise E.CONSUMER_NAME_TOO_LONG(max=MAX_NAME_LEN)
        name = cfg.durable_name
    elif cfg.name:
        name = cfg.name
    else:
        name = new_name()
        while name in others:
            name = new_name()
        cfg.name = name
    if not is_valid_name(name):
        raise E.CONSUMER_BAD_DURABLE_NAME()
    _ephemeral_threshold(cfg)
    return CreatePlan(name, cfg, "create")
