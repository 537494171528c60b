# ruff: noqa: RUF009  (gofield is a dataclass field specifier)
"""Consumer configuration: the model, request decoding, nats-server's defaults and checks.

:class:`ConsumerConfig` has the JetStream wire names in nats-server 2.15's field order,
each declared with its Go type, so :func:`decode_create` fails with nats-server's exact
``10025 invalid JSON: ...`` texts and :func:`~natskern.kernel.jetstream.wire.to_wire`
writes the ``config`` object back with Go's ``omitempty``.

:func:`set_defaults` is ``setConsumerConfigDefaults`` (``max_deliver: -1``,
``max_waiting: 512`` for pull, ``ack_wait: 30s``, ``max_ack_pending: 1000``...); the
checks (``checkConsumerCfg``, ``checkNewConsumerConfig`` and the ``CONSUMER.CREATE``
request) are :mod:`natskern.kernel.jetstream.consumercheck`.
"""

from __future__ import annotations

import dataclasses
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
from natskern.kernel.jetstream.gojson import GoJSONError, Val
from natskern.kernel.jetstream.streamconfig import REQUIRED_LEVEL_KEY, StreamConfig

__all__ = [
    "DEFAULT_ACK_WAIT",
    "DEFAULT_INACTIVE",
    "DEFAULT_MAX_ACK_PENDING",
    "DEFAULT_MAX_WAITING",
    "ConsumerConfig",
    "CreateConsumerRequest",
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
