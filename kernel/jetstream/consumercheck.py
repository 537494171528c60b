"""The ``CONSUMER.CREATE`` request checks in nats-server's order (``jsConsumerCreateRequest``
and ``addConsumerWithAssignment``), apart from the running consumers they end in.

:func:`check_create` takes the request subject's tokens, the body, the stream's config
and the configs of the stream's consumers, and returns a :class:`CreatePlan`: the name,
the checked config (defaults set, static metadata), and whether it creates, updates or
returns an existing consumer unchanged.  The engine then applies it; the differential
tests drive the same function against nats-server 2.15.1.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.consumerconfig import (
    DEFAULT_INACTIVE,
    MAX_DESCRIPTION_LEN,
    MAX_METADATA_LEN,
    MAX_NAME_LEN,
    SECOND,
    ConsumerConfig,
    copy_metadata,
    decode_create,
    filters_of,
    is_durable,
    set_defaults,
    set_static_metadata,
)
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.gojson import go_quote
from natskern.kernel.jetstream.streamcheck import is_valid_name
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.subjects.tokens import (
    is_literal,
    is_subset,
    is_valid_subject,
    subjects_collide,
)

__all__ = [
    "CreatePlan",
    "check_config",
    "check_create",
    "check_update",
    "new_name",
    "subject_parts",
]

_ALPHABET: Final = string.ascii_letters + string.digits
_MS: Final = 1_000_000
_GROUP_NAME: Final = re.compile(r"[a-zA-Z0-9/_=-]{1,16}")
_DIGITS: Final = re.compile(r"[+-]?[0-9]+")


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
    if cfg.ack_policy != "flow_control":
        return
    what = "flow control ack policy (ack_policy flow_control)"
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
    default_max_consumers: int = 0,
) -> tuple[str, CreatePlan]:
    """``(stream name, plan)`` for a create request, or the :class:`ApiError` to answer.

    ``lookup(stream)`` gives a stream's config (None: no such stream),
    ``consumers(stream)`` its consumers' configs by name.  ``default_max_consumers``
    caps the consumers of a stream without its own ``max_consumers`` (nats-server
    2.15's ``jetstream { limits { default_max_consumers } }``; ``<= 0``: no cap).
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
    cap = stream.max_consumers if stream.max_consumers > 0 else default_max_consumers
    return stream_name, _add(
        cfg, req.action, req.pedantic, stream, others, has_interest, max_ack_pending, cap
    )


def _add(
    cfg: ConsumerConfig,
    action: str,
    pedantic: bool,
    stream: StreamConfig,
    others: Mapping[str, ConsumerConfig],
    has_interest: Callable[[str], bool] | None,
    max_ack_pending: int,
    max_consumers: int,
) -> CreatePlan:
    """``addConsumerWithAssignment`` up to the new consumer's store (``max_consumers``:
    the stream's cap in force, its own or the server's default; ``<= 0``: none)."""
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
    if max_consumers > 0 and len(others) >= max_consumers:
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


# --------------------------------------------------------------------------- checks


def _invalid(text: str) -> ApiError:
    return E.STREAM_INVALID_CONFIG(err=text)


def _valid(subject: str) -> bool:
    return is_valid_subject(subject.encode())


def _sample_ok(freq: str) -> bool:
    s = freq[:-1] if freq.endswith("%") else freq
    return bool(_DIGITS.fullmatch(s)) and int(s) >= 0 and -(2**63) <= int(s) < 2**63


def _sample_error(freq: str) -> ApiError:
    s = freq[:-1] if freq.endswith("%") else freq
    if _DIGITS.fullmatch(s) and int(s) < 0:
        return E.CONSUMER_INVALID_SAMPLING(err="<nil>")
    kind = "value out of range" if _DIGITS.fullmatch(s) else "invalid syntax"
    return E.CONSUMER_INVALID_SAMPLING(err=f"strconv.Atoi: parsing {go_quote(s)}: {kind}")


def _policy(cfg: ConsumerConfig) -> None:
    def bad(dp: str, start: str) -> ApiError:
        return E.CONSUMER_INVALID_POLICY(
            err=f"consumer delivery policy is deliver {dp}, but optional start {start} is also set"
        )

    def unset(dp: str, what: str) -> ApiError:
        return E.CONSUMER_INVALID_POLICY(
            err=f"consumer delivery policy is deliver {dp}, but optional {what} is not set"
        )

    dp = cfg.deliver_policy
    words = {"all": "all", "last": "last", "last_per_subject": "last per subject", "new": "new"}
    if dp in words:
        if cfg.opt_start_seq > 0:
            raise bad(words[dp], "sequence")
        if cfg.opt_start_time is not None:
            raise bad(words[dp], "time")
        if dp == "last_per_subject" and not cfg.filter_subject and not cfg.filter_subjects:
            raise unset("last per subject", "filter subject")
    elif dp == "by_start_sequence":
        if cfg.opt_start_seq == 0:
            raise unset("by start sequence", "start sequence")
        if cfg.opt_start_time is not None:
            raise bad("by start sequence", "time")
    elif dp == "by_start_time":
        if cfg.opt_start_time is None:
            raise unset("by start time", "start time")
        if cfg.opt_start_seq != 0:
            raise bad("by start time", "start sequence")


def _push_pull(cfg: ConsumerConfig, stream: StreamConfig) -> None:
    if cfg.deliver_subject:
        ds = cfg.deliver_subject.encode()
        if not is_literal(ds):
            raise E.CONSUMER_DELIVER_TO_WILDCARDS()
        if not is_valid_subject(ds):
            raise E.CONSUMER_INVALID_DELIVER_SUBJECT()
        if any(is_subset(ds, s.encode()) for s in stream.subjects):
            raise E.CONSUMER_DELIVER_CYCLE()
        if cfg.max_waiting != 0:
            raise E.CONSUMER_PUSH_MAX_WAITING()
        if cfg.max_ack_pending > 0 and cfg.ack_policy == "none":
            raise E.CONSUMER_MAX_PENDING_ACK_POLICY_REQUIRED()
        if 0 < cfg.idle_heartbeat < 100 * _MS:
            raise E.CONSUMER_SMALL_HEARTBEAT()
        return
    if cfg.ack_policy == "none" and stream.retention == "workqueue":
        raise E.CONSUMER_PULL_REQUIRES_ACK()
    if cfg.rate_limit_bps > 0:
        raise E.CONSUMER_PULL_WITH_RATE_LIMIT()
    if cfg.max_waiting < 0:
        raise E.CONSUMER_MAX_WAITING_NEGATIVE()
    if cfg.idle_heartbeat > 0:
        raise E.CONSUMER_HB_REQUIRES_PUSH()
    if cfg.flow_control:
        raise E.CONSUMER_FC_REQUIRES_PUSH()
    if cfg.max_batch < 0:
        raise E.CONSUMER_MAX_REQUEST_BATCH_NEGATIVE()
    if cfg.max_expires != 0 and cfg.max_expires < _MS:
        raise E.CONSUMER_MAX_REQUEST_EXPIRES_TOO_SMALL()


def _ack_fc(cfg: ConsumerConfig) -> None:
    if not cfg.deliver_subject:
        raise E.CONSUMER_ACK_FC_REQUIRES_PUSH()
    if not cfg.flow_control:
        raise E.CONSUMER_ACK_FC_REQUIRES_FC()
    if cfg.idle_heartbeat != SECOND:
        raise _invalid("flow control ack policy heartbeat needs to be 1s")
    if cfg.max_ack_pending <= 0:
        raise E.CONSUMER_ACK_FC_REQUIRES_MAX_ACK_PENDING()
    if cfg.ack_wait != 0 or cfg.backoff:
        raise E.CONSUMER_ACK_FC_REQUIRES_NO_ACK_WAIT()
    if cfg.max_deliver > 0:
        raise E.CONSUMER_ACK_FC_REQUIRES_NO_MAX_DELIVER()


def _filters(cfg: ConsumerConfig) -> None:
    if cfg.filter_subject and cfg.filter_subjects:
        raise E.CONSUMER_DUPLICATE_FILTER_SUBJECTS()
    if cfg.filter_subject and not _valid(cfg.filter_subject):
        raise _invalid("invalid subject")
    if any(not f for f in cfg.filter_subjects):
        raise E.CONSUMER_EMPTY_FILTER()
    filters = filters_of(cfg)
    for i, outer in enumerate(filters):
        if not _valid(outer):
            raise _invalid("invalid subject")
        for j, inner in enumerate(filters):
            if i != j and is_subset(outer.encode(), inner.encode()):
                raise E.CONSUMER_OVERLAPPING_SUBJECT_FILTERS()


def _priority(cfg: ConsumerConfig) -> None:
    if cfg.priority_policy != "none":
        if cfg.deliver_subject:
            raise E.CONSUMER_PUSH_WITH_PRIORITY_GROUP()
        if not cfg.priority_groups:
            raise E.CONSUMER_PRIORITY_POLICY_WITHOUT_GROUP()
        for group in cfg.priority_groups:
            if not group:
                raise E.CONSUMER_EMPTY_GROUP_NAME()
            if not _GROUP_NAME.fullmatch(group):
                raise E.CONSUMER_INVALID_GROUP_NAME()
    elif cfg.priority_groups:
        raise E.CONSUMER_PRIORITY_GROUP_WITH_POLICY_NONE()
    elif cfg.priority_timeout > 0:
        raise E.CONSUMER_PINNED_TTL_WITHOUT_PRIORITY_POLICY_NONE()


def check_config(cfg: ConsumerConfig, stream: StreamConfig, *, max_ack_pending: int = 0) -> None:
    """``checkConsumerCfg`` on a config with its defaults set; raises the :class:`ApiError`."""
    if cfg.name and not is_valid_name(cfg.name):
        raise _invalid("consumer name can not contain '.', '*', '>', '\\', '/'")
    if cfg.durable_name and not is_valid_name(cfg.durable_name):
        raise _invalid("consumer durable name can not contain '.', '*', '>', '\\', '/'")
    replicas = stream.num_replicas
    if cfg.num_replicas > 0 and cfg.num_replicas > replicas:
        raise E.CONSUMER_REPLICAS_EXCEEDS_STREAM()
    if cfg.num_replicas < 0:
        raise E.REPLICAS_COUNT_CANNOT_BE_NEGATIVE()
    if stream.retention in ("interest", "workqueue") and cfg.num_replicas not in (0, replicas):
        raise E.CONSUMER_REPLICAS_SHOULD_MATCH_STREAM()
    if any(b < 0 for b in cfg.backoff):
        raise E.CONSUMER_BACK_OFF_NEGATIVE()
    if cfg.ack_wait < 0:
        raise E.CONSUMER_ACK_WAIT_NEGATIVE()
    if cfg.ack_policy == "flow_control":
        _ack_fc(cfg)
    if cfg.backoff and cfg.max_deliver != -1 and len(cfg.backoff) > cfg.max_deliver:
        raise E.CONSUMER_MAX_DELIVER_BACKOFF()
    if len(cfg.description.encode()) > MAX_DESCRIPTION_LEN:
        raise E.CONSUMER_DESCRIPTION_TOO_LONG(max=MAX_DESCRIPTION_LEN)
    _push_pull(cfg, stream)
    limit = stream.consumer_limits
    if max_ack_pending > 0 and cfg.max_ack_pending > max_ack_pending:
        raise E.CONSUMER_MAX_PENDING_ACK_EXCESS(limit=max_ack_pending)
    if limit.max_ack_pending > 0 and cfg.max_ack_pending > limit.max_ack_pending:
        raise E.CONSUMER_MAX_PENDING_ACK_EXCESS(limit=limit.max_ack_pending)
    if limit.inactive_threshold > 0 and cfg.inactive_threshold > limit.inactive_threshold:
        raise E.CONSUMER_INACTIVE_THRESHOLD_EXCESS(limit=_go_dur(limit.inactive_threshold))
    if cfg.direct:
        if not cfg.deliver_subject:
            raise E.CONSUMER_DIRECT_REQUIRES_PUSH()
        if is_durable(cfg):
            raise E.CONSUMER_DIRECT_REQUIRES_EPHEMERAL()
    _filters(cfg)
    _policy(cfg)
    if cfg.sample_freq and not _sample_ok(cfg.sample_freq):
        raise _sample_error(cfg.sample_freq)
    if cfg.flow_control and cfg.idle_heartbeat == 0:
        raise E.CONSUMER_WITH_FLOW_CONTROL_NEEDS_HEARTBEATS()
    if cfg.durable_name and cfg.name and cfg.name != cfg.durable_name:
        raise E.CONSUMER_CREATE_DURABLE_AND_NAME_MISMATCH()
    if sum(len(k.encode()) + len(v.encode()) for k, v in cfg.metadata.items()) > MAX_METADATA_LEN:
        raise E.CONSUMER_METADATA_LENGTH(limit=f"{MAX_METADATA_LEN // 1024}KB")
    _priority(cfg)
    if stream.placement is not None and stream.placement.preferred:
        raise _invalid("preferred server not permitted in placement")


def _go_dur(ns: int) -> str:
    from natskern.kernel.jetstream.wire import go_duration

    return go_duration(ns)


def check_update(
    old: ConsumerConfig,
    new: ConsumerConfig,
    *,
    has_interest: Callable[[str], bool] | None = None,
) -> None:
    """``checkNewConsumerConfig``: raises ``10012`` naming what may not change."""
    if old == new:
        return

    def fail(text: str) -> ApiError:
        return E.CONSUMER_CREATE(err=text)

    for attr, what in (
        ("deliver_policy", "deliver policy"),
        ("mem_storage", "storage type"),
        ("direct", "direct"),
        ("sourcing", "sourcing"),
        ("opt_start_seq", "start sequence"),
        ("opt_start_time", "start time"),
        ("ack_policy", "ack policy"),
        ("replay_policy", "replay policy"),
        ("idle_heartbeat", "heart beats"),
        ("flow_control", "flow control"),
    ):
        if getattr(old, attr) != getattr(new, attr):
            raise fail(f"{what} can not be updated")
    if old.deliver_subject != new.deliver_subject:
        if not old.deliver_subject:
            raise fail("can not update pull consumer to push based")
        if not new.deliver_subject:
            raise fail("can not update push consumer to pull based")
        if has_interest is not None and has_interest(old.deliver_subject):
            raise E.CONSUMER_NAME_EXIST()
    if old.max_waiting != new.max_waiting:
        raise fail("max waiting can not be updated")
    if new.backoff and new.max_deliver != -1 and len(new.backoff) > new.max_deliver:
        raise E.CONSUMER_MAX_DELIVER_BACKOFF()
