# ruff: noqa: RUF009  (gofield is a dataclass field specifier)
"""Consumer configuration: the model, request decoding, nats-server's defaults and checks.

:class:`ConsumerConfig` has the JetStream wire names in nats-server 2.15's field order,
each declared with its Go type, so :func:`decode_create` fails with nats-server's exact
``10025 invalid JSON: ...`` texts and :func:`~natskern.kernel.jetstream.wire.to_wire`
writes the ``config`` object back with Go's ``omitempty``.

:func:`set_defaults` is ``setConsumerConfigDefaults`` (``max_deliver: -1``,
``max_waiting: 512`` for pull, ``ack_wait: 30s``, ``max_ack_pending: 1000``...),
:func:`check_config` is ``checkConsumerCfg`` and :func:`check_update` is
``checkNewConsumerConfig`` (what may not change on update), with nats-server's error
codes and descriptions.  The subject forms of ``CONSUMER.CREATE`` are checked in
:mod:`natskern.kernel.jetstream.api_consumer`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.godecode import (
    BOOL,
    DURATION,
    INT,
    STRING,
    TIME,
    UINT64,
    Enum,
    ListOf,
    MapOf,
    Struct,
    decode,
    gofield,
)
from natskern.kernel.jetstream.gojson import GoJSONError, Val, go_quote
from natskern.kernel.jetstream.streamcheck import is_valid_name
from natskern.kernel.jetstream.streamconfig import REQUIRED_LEVEL_KEY, StreamConfig
from natskern.kernel.subjects.tokens import is_literal, is_subset, is_valid_subject

__all__ = [
    "DEFAULT_ACK_WAIT",
    "DEFAULT_INACTIVE",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_WAITING",
    "ConsumerConfig",
    "CreateConsumerRequest",
    "check_config",
    "check_update",
    "decode_config",
    "decode_create",
    "filters_of",
    "is_durable",
    "same_config",
    "set_defaults",
    "set_static_metadata",
]

SECOND: Final = 1_000_000_000
DEFAULT_ACK_WAIT: Final = 30 * SECOND
DEFAULT_INACTIVE: Final = 5 * SECOND
DEFAULT_MAX_ACK_PENDING: Final = 1000
DEFAULT_MAX_WAITING: Final = 512
DEFAULT_PINNED_TTL: Final = 120 * SECOND
MAX_DESCRIPTION_LEN: Final = 4 * 1024
MAX_METADATA_LEN: Final = 128 * 1024
MAX_NAME_LEN: Final = 255
_MS: Final = 1_000_000
_GROUP_NAME: Final = re.compile(r"[a-zA-Z0-9/_=-]{1,16}")
_DIGITS: Final = re.compile(r"[+-]?[0-9]+")


class _RawEnum(Enum):
    """An enum whose unmarshaler prints the raw JSON with ``%v`` (not ``%q``)."""

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.raw in self.words:
            return self.words[v.raw]
        raise GoJSONError(self.error.format(q=v.raw))


DELIVER_POLICY: Final = Enum(
    {
        '"all"': "all",
        '"undefined"': "all",
        '"last"': "last",
        '"last_per_subject"': "last_per_subject",
        '"new"': "new",
        '"by_start_sequence"': "by_start_sequence",
        '"by_start_time"': "by_start_time",
    },
    "all",
)
ACK_POLICY: Final = Enum(
    {'"none"': "none", '"all"': "all", '"explicit"': "explicit", '"flow_control"': "flow_control"},
    "none",
)
REPLAY_POLICY: Final = Enum({'"instant"': "instant", '"original"': "original"}, "instant")
PRIORITY_POLICY: Final = _RawEnum(
    {
        '"none"': "none",
        '"overflow"': "overflow",
        '"pinned_client"': "pinned_client",
        '"prioritized"': "prioritized",
    },
    "none",
    error="unknown priority policy: {q}",
)
ACTION: Final = _RawEnum(
    {'""': "", '"create"': "create", '"update"': "update"},
    "",
    error="unknown consumer action: {q}",
)
_STRINGS = ListOf(STRING, "[]string")
_DURATIONS = ListOf(DURATION, "[]time.Duration")
_METADATA = MapOf(STRING, "map[string]string")


@dataclass(slots=True)
class ConsumerConfig:
    """A consumer's configuration, field for field nats-server 2.15's ``ConsumerConfig``."""

    durable_name: str = gofield(STRING, "", omitempty=True)
    name: str = gofield(STRING, "", omitempty=True)
    description: str = gofield(STRING, "", omitempty=True)
    deliver_policy: str = gofield(DELIVER_POLICY, "all")
    opt_start_seq: int = gofield(UINT64, 0, omitempty=True)
    opt_start_time: str | None = gofield(TIME, None, omitempty=True)
    ack_policy: str = gofield(ACK_POLICY, "none")
    ack_wait: int = gofield(DURATION, 0, omitempty=True)
    max_deliver: int = gofield(INT, 0, omitempty=True)
    backoff: list[int] = gofield(_DURATIONS, factory=list, omitempty=True)
    filter_subject: str = gofield(STRING, "", omitempty=True)
    filter_subjects: list[str] = gofield(_STRINGS, factory=list, omitempty=True)
    replay_policy: str = gofield(REPLAY_POLICY, "instant")
    rate_limit_bps: int = gofield(UINT64, 0, omitempty=True)
    sample_freq: str = gofield(STRING, "", omitempty=True)
    max_waiting: int = gofield(INT, 0, omitempty=True)
    max_ack_pending: int = gofield(INT, 0, omitempty=True)
    flow_control: bool = gofield(BOOL, False, omitempty=True)
    headers_only: bool = gofield(BOOL, False, omitempty=True)
    max_batch: int = gofield(INT, 0, omitempty=True)
    max_expires: int = gofield(DURATION, 0, omitempty=True)
    max_bytes: int = gofield(INT, 0, omitempty=True)
    deliver_subject: str = gofield(STRING, "", omitempty=True)
    deliver_group: str = gofield(STRING, "", omitempty=True)
    idle_heartbeat: int = gofield(DURATION, 0, omitempty=True)
    inactive_threshold: int = gofield(DURATION, 0, omitempty=True)
    num_replicas: int = gofield(INT, 0)
    mem_storage: bool = gofield(BOOL, False, omitempty=True)
    direct: bool = gofield(BOOL, False, omitempty=True)
    sourcing: bool = gofield(BOOL, False, omitempty=True)
    metadata: dict[str, str] = gofield(_METADATA, factory=dict, omitempty=True)
    pause_until: str | None = gofield(TIME, None, omitempty=True)
    priority_groups: list[str] = gofield(_STRINGS, factory=list, omitempty=True)
    priority_policy: str = gofield(PRIORITY_POLICY, "none", omitempty=True)
    priority_timeout: int = gofield(DURATION, 0, omitempty=True)

    def copy(self) -> ConsumerConfig:
        """A copy with its own lists and metadata."""
        return dataclasses.replace(
            self,
            backoff=list(self.backoff),
            filter_subjects=list(self.filter_subjects),
            metadata=dict(self.metadata),
            priority_groups=list(self.priority_groups),
        )

    @property
    def is_push(self) -> bool:
        """A push consumer (it has a deliver subject)."""
        return bool(self.deliver_subject)


_CONFIG = Struct(ConsumerConfig, "server.ConsumerConfig")


@dataclass(slots=True)
class CreateConsumerRequest:
    """A ``CONSUMER.CREATE`` body: ``{stream_name, config, action, pedantic}``."""

    stream_name: str = gofield(STRING, "")
    config: ConsumerConfig = gofield(_CONFIG, factory=ConsumerConfig)
    action: str = gofield(ACTION, "")
    pedantic: bool = gofield(BOOL, False, omitempty=True)


_REQUEST = Struct(CreateConsumerRequest, "server.CreateConsumerRequest")


def decode_create(body: bytes | str) -> CreateConsumerRequest:
    """The request of a ``CONSUMER.CREATE`` body; raises ``10025`` with Go's text."""
    try:
        out: CreateConsumerRequest = decode(body, _REQUEST, "CreateConsumerRequest")
    except GoJSONError as err:
        raise E.INVALID_JSON(err=str(err)) from None
    return out


def decode_config(body: bytes | str) -> ConsumerConfig:
    """A stored :class:`ConsumerConfig` (as :func:`~.wire.dumps` wrote it)."""
    out: ConsumerConfig = decode(body, _CONFIG, "ConsumerConfig")
    return out


def is_durable(cfg: ConsumerConfig) -> bool:
    """nats-server's ``isDurableConsumer``."""
    return bool(cfg.durable_name)


def filters_of(cfg: ConsumerConfig) -> list[str]:
    """``gatherSubjectFilters``: the filter subject and the filter subjects, in that order."""
    out = [cfg.filter_subject] if cfg.filter_subject else []
    return out + [f for f in cfg.filter_subjects if f not in out]


# --------------------------------------------------------------------------- metadata


def set_static_metadata(cfg: ConsumerConfig) -> None:
    """``setStaticConsumerMetadata``: drop response-only keys, set ``_nats.req.level``."""
    meta = {k: v for k, v in cfg.metadata.items() if k not in ("_nats.ver", "_nats.level")}
    level = 0
    if cfg.pause_until is not None and not cfg.pause_until.startswith("0001-01-01T00:00:00"):
        level = 1
    if cfg.priority_policy != "none" or cfg.priority_timeout != 0 or cfg.priority_groups:
        level = 1
    if cfg.ack_policy == "flow_control":
        level = 4
    meta[REQUIRED_LEVEL_KEY] = str(level)
    cfg.metadata = meta


def copy_metadata(cfg: ConsumerConfig, prev: ConsumerConfig) -> None:
    """``copyConsumerMetadata``: take ``prev``'s required level into ``cfg`` (for equality)."""
    meta = {k: v for k, v in cfg.metadata.items() if k not in ("_nats.ver", "_nats.level")}
    if REQUIRED_LEVEL_KEY in prev.metadata:
        meta[REQUIRED_LEVEL_KEY] = prev.metadata[REQUIRED_LEVEL_KEY]
    else:
        meta.pop(REQUIRED_LEVEL_KEY, None)
    cfg.metadata = meta


def same_config(a: ConsumerConfig, b: ConsumerConfig) -> bool:
    """Go's ``reflect.DeepEqual`` of two configs."""
    return a == b


# --------------------------------------------------------------------------- defaults


def _pedantic(text: str) -> ApiError:
    return E.PEDANTIC(err=text)


def set_defaults(
    cfg: ConsumerConfig, stream: StreamConfig, *, pedantic: bool = False, max_ack_pending: int = 0
) -> None:
    """``setConsumerConfigDefaults`` (``max_ack_pending``: the account's limit, 0 = none)."""
    if cfg.max_deliver == 0 or cfg.max_deliver < -1:
        if pedantic and cfg.max_deliver < -1:
            raise _pedantic("max_deliver must be set to -1")
        cfg.max_deliver = -1
    for attr, text in (
        ("max_waiting", "max_waiting must not be negative"),
        ("max_ack_pending", ""),
        ("max_batch", "max_batch must not be negative"),
        ("max_expires", "max_expires must not be negative"),
        ("max_bytes", "max_bytes must not be negative"),
        ("idle_heartbeat", "idle_heartbeat must not be negative"),
        ("inactive_threshold", "inactive_threshold must not be negative"),
        ("priority_timeout", "priority_timeout must not be negative"),
    ):
        value = getattr(cfg, attr)
        if attr == "max_ack_pending":
            if value < -1:
                if pedantic:
                    raise _pedantic("max_ack_pending must be set to -1")
                cfg.max_ack_pending = -1
        elif value < 0:
            if pedantic:
                raise _pedantic(text)
            setattr(cfg, attr, 0)
    if not cfg.deliver_subject and cfg.max_waiting == 0:
        cfg.max_waiting = DEFAULT_MAX_WAITING
    if cfg.ack_wait == 0 and cfg.ack_policy in ("explicit", "all"):
        cfg.ack_wait = DEFAULT_ACK_WAIT
    if cfg.backoff:
        if pedantic and cfg.ack_wait != cfg.backoff[0]:
            raise _pedantic("first backoff value has to equal batch AckWait")
        cfg.ack_wait = cfg.backoff[0]
    limits = stream.consumer_limits
    if cfg.max_ack_pending == 0:
        if pedantic and limits.max_ack_pending > 0:
            raise _pedantic("max_ack_pending must be set if it's configured in stream limits")
        cfg.max_ack_pending = limits.max_ack_pending
    if cfg.inactive_threshold == 0:
        if pedantic and limits.inactive_threshold > 0:
            raise _pedantic("inactive_threshold must be set if it's configured in stream limits")
        cfg.inactive_threshold = limits.inactive_threshold
    if cfg.max_ack_pending == 0 and cfg.ack_policy != "none":
        pending = DEFAULT_MAX_ACK_PENDING
        if 0 < max_ack_pending < pending:
            pending = max_ack_pending
        cfg.max_ack_pending = pending
    if cfg.priority_policy == "pinned_client" and cfg.priority_timeout == 0:
        cfg.priority_timeout = DEFAULT_PINNED_TTL
    if cfg.ack_policy == "flow_control" and not pedantic:
        cfg.flow_control = True
        cfg.idle_heartbeat = SECOND


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
