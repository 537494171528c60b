# ruff: noqa: RUF009  (gofield is a dataclass field specifier)
"""Stream configuration: the model, request decoding and nats-server's defaults.

:class:`StreamConfig` and its parts are dataclasses whose fields are the JetStream wire
names in nats-server's field order, declared with the Go type each has there, so that

* :func:`decode_request` reads a ``STREAM.CREATE`` / ``STREAM.UPDATE`` body and fails
  with nats-server's exact ``10025 invalid JSON: ...`` error;
* :func:`natskern.kernel.jetstream.wire.to_wire` writes the config back as nats-server's
  ``config`` object (``omitempty`` included).

The field defaults are Go's zero values, as a freshly decoded request has them;
:func:`natskern.kernel.jetstream.streamcheck.check_stream_config` fills in nats-server's
defaults (``max_msgs: -1``, ``duplicate_window``, ``subjects: [name]``...) and validates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream.errors import INVALID_JSON
from natskern.kernel.jetstream.godecode import (
    BOOL,
    DURATION,
    INT,
    INT32,
    INT64,
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
from natskern.kernel.jetstream.gojson import GoJSONError

__all__ = [
    "REQUIRED_LEVEL_KEY",
    "SERVER_LEVEL_KEY",
    "SERVER_VERSION_KEY",
    "ExternalStream",
    "Placement",
    "RePublish",
    "StreamConfig",
    "StreamConfigRequest",
    "StreamConsumerLimits",
    "StreamConsumerSource",
    "StreamSource",
    "SubjectTransformConfig",
    "decode_request",
    "required_api_level",
    "set_dynamic_metadata",
    "set_static_metadata",
]

REQUIRED_LEVEL_KEY: Final = "_nats.req.level"
"""Metadata key: the API level a server needs to run the stream (stored)."""
SERVER_VERSION_KEY: Final = "_nats.ver"
"""Metadata key: the answering server's version (only in responses)."""
SERVER_LEVEL_KEY: Final = "_nats.level"
"""Metadata key: the answering server's API level (only in responses)."""

_STRINGS = ListOf(STRING, "[]string")
_METADATA = MapOf(STRING, "map[string]string")

RETENTION: Final = Enum(
    {'"limits"': "limits", '"interest"': "interest", '"workqueue"': "workqueue"}, "limits"
)
DISCARD: Final = Enum({'"old"': "old", '"new"': "new"}, "old", lower=True)
STORAGE: Final = Enum({'"file"': "file", '"memory"': "memory"}, "file")
COMPRESSION: Final = Enum(
    {"none": "none", "s2": "s2"}, "none", decoded=True, error="unknown compression algorithm"
)
PERSIST_MODE: Final = Enum({'"default"': "default", '""': "default", '"async"': "async"}, "default")


@dataclass(slots=True)
class SubjectTransformConfig:
    """A ``{src, dest}`` subject transform (stream ``subject_transform``, source transforms)."""

    src: str = gofield(STRING, "")
    dest: str = gofield(STRING, "")


@dataclass(slots=True)
class RePublish:
    """Republish stored messages matching ``src`` on ``dest`` (optionally headers only)."""

    src: str = gofield(STRING, "", omitempty=True)
    dest: str = gofield(STRING, "")
    headers_only: bool = gofield(BOOL, False, omitempty=True)


@dataclass(slots=True)
class ExternalStream:
    """Where a sourced or mirrored stream of another account or domain is reached."""

    api: str = gofield(STRING, "")
    deliver: str = gofield(STRING, "")


@dataclass(slots=True)
class StreamConsumerSource:
    """A durable consumer a source or mirror uses (2.14+)."""

    name: str = gofield(STRING, "", omitempty=True)
    deliver_subject: str = gofield(STRING, "", omitempty=True)


_TRANSFORMS = ListOf(
    Struct(SubjectTransformConfig, "server.SubjectTransformConfig"),
    "[]server.SubjectTransformConfig",
)


@dataclass(slots=True)
class StreamSource:
    """A mirror or a source of a stream."""

    name: str = gofield(STRING, "")
    opt_start_seq: int = gofield(UINT64, 0, omitempty=True)
    opt_start_time: str | None = gofield(TIME, None, omitempty=True)
    filter_subject: str = gofield(STRING, "", omitempty=True)
    subject_transforms: list[SubjectTransformConfig] = gofield(
        _TRANSFORMS, factory=list, omitempty=True
    )
    external: ExternalStream | None = gofield(
        Struct(ExternalStream, "server.ExternalStream", pointer=True), None, omitempty=True
    )
    consumer: StreamConsumerSource | None = gofield(
        Struct(StreamConsumerSource, "server.StreamConsumerSource", pointer=True),
        None,
        omitempty=True,
    )


@dataclass(slots=True)
class Placement:
    """Where a stream's replicas should live (cluster, server tags)."""

    cluster: str = gofield(STRING, "", omitempty=True)
    tags: list[str] = gofield(_STRINGS, factory=list, omitempty=True)
    preferred: str = gofield(STRING, "", omitempty=True)


@dataclass(slots=True)
class StreamConsumerLimits:
    """Limits every consumer of the stream gets by default."""

    inactive_threshold: int = gofield(DURATION, 0, omitempty=True)
    max_ack_pending: int = gofield(INT, 0, omitempty=True)


_SOURCE = Struct(StreamSource, "server.StreamSource", pointer=True)


@dataclass(slots=True)
class StreamConfig:
    """A stream's configuration, field for field nats-server 2.15's ``StreamConfig``."""

    name: str = gofield(STRING, "")
    description: str = gofield(STRING, "", omitempty=True)
    subjects: list[str] = gofield(_STRINGS, factory=list, omitempty=True)
    retention: str = gofield(RETENTION, "limits")
    max_consumers: int = gofield(INT, 0)
    max_msgs: int = gofield(INT64, 0)
    max_bytes: int = gofield(INT64, 0)
    max_age: int = gofield(DURATION, 0)
    max_msgs_per_subject: int = gofield(INT64, 0)
    max_msg_size: int = gofield(INT32, 0, omitempty=True)
    discard: str = gofield(DISCARD, "old")
    storage: str = gofield(STORAGE, "file")
    num_replicas: int = gofield(INT, 0)
    no_ack: bool = gofield(BOOL, False, omitempty=True)
    duplicate_window: int = gofield(DURATION, 0, omitempty=True)
    placement: Placement | None = gofield(
        Struct(Placement, "server.Placement", pointer=True), None, omitempty=True
    )
    mirror: StreamSource | None = gofield(_SOURCE, None, omitempty=True)
    sources: list[StreamSource | None] = gofield(
        ListOf(_SOURCE, "[]*server.StreamSource"), factory=list, omitempty=True
    )
    compression: str = gofield(COMPRESSION, "none")
    first_seq: int = gofield(UINT64, 0, omitempty=True)
    subject_transform: SubjectTransformConfig | None = gofield(
        Struct(SubjectTransformConfig, "server.SubjectTransformConfig", pointer=True),
        None,
        omitempty=True,
    )
    republish: RePublish | None = gofield(
        Struct(RePublish, "server.RePublish", pointer=True), None, omitempty=True
    )
    allow_direct: bool = gofield(BOOL, False)
    mirror_direct: bool = gofield(BOOL, False)
    discard_new_per_subject: bool = gofield(BOOL, False, omitempty=True)
    sealed: bool = gofield(BOOL, False)
    deny_delete: bool = gofield(BOOL, False)
    deny_purge: bool = gofield(BOOL, False)
    allow_rollup_hdrs: bool = gofield(BOOL, False)
    consumer_limits: StreamConsumerLimits = gofield(
        Struct(StreamConsumerLimits, "server.StreamConsumerLimits"), factory=StreamConsumerLimits
    )
    allow_msg_ttl: bool = gofield(BOOL, False)
    subject_delete_marker_ttl: int = gofield(DURATION, 0, omitempty=True)
    allow_msg_counter: bool = gofield(BOOL, False, omitempty=True)
    allow_atomic: bool = gofield(BOOL, False, omitempty=True)
    allow_msg_schedules: bool = gofield(BOOL, False, omitempty=True)
    persist_mode: str = gofield(PERSIST_MODE, "default", omitempty=True)
    allow_batched: bool = gofield(BOOL, False, omitempty=True)
    metadata: dict[str, str] = gofield(_METADATA, factory=dict, omitempty=True)

    def copy(self) -> StreamConfig:
        """A deep copy (nested sources, transforms and metadata included)."""
        return _deep_copy(self)


@dataclass(slots=True)
class StreamConfigRequest(StreamConfig):
    """A create/update request body: the config plus the request-only ``pedantic`` flag."""

    pedantic: bool = gofield(BOOL, False, omitempty=True)

    def config(self) -> StreamConfig:
        """The :class:`StreamConfig` part of the request."""
        return StreamConfig(**{f.name: getattr(self, f.name) for f in _CONFIG_FIELDS})


_CONFIG_FIELDS = dataclasses.fields(StreamConfig)
_REQUEST = Struct(StreamConfigRequest, "server.StreamConfigRequest")


def _deep_copy(obj: StreamConfig) -> StreamConfig:
    def copy(value: object) -> object:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(
                value, **{f.name: copy(getattr(value, f.name)) for f in dataclasses.fields(value)}
            )
        if isinstance(value, list):
            return [copy(v) for v in value]
        if isinstance(value, dict):
            return {k: copy(v) for k, v in value.items()}
        return value

    return copy(obj)  # type: ignore[return-value]


def decode_request(body: bytes | str) -> tuple[StreamConfig, bool]:
    """``(config, pedantic)`` from a ``STREAM.CREATE`` / ``STREAM.UPDATE`` body.

    An empty body is the zero config.  Raises the :class:`ApiError` ``10025`` with Go's
    decoding error, exactly as nats-server words it.
    """
    try:
        request: StreamConfigRequest = decode(body, _REQUEST, "StreamConfigRequest")
    except GoJSONError as err:
        raise INVALID_JSON(err=str(err)) from None
    return request.config(), request.pedantic


# --------------------------------------------------------------------------- metadata


def required_api_level(cfg: StreamConfig) -> int:
    """The API level a server needs to run ``cfg`` (nats-server's rules per feature)."""
    level = 0
    if cfg.allow_msg_ttl or cfg.subject_delete_marker_ttl > 0:
        level = 1
    if cfg.allow_msg_counter or cfg.allow_atomic or cfg.allow_msg_schedules:
        level = max(level, 2)
    if cfg.persist_mode == "async":
        level = max(level, 2)
    if cfg.allow_batched:
        level = max(level, 4)
    return level


def set_static_metadata(cfg: StreamConfig) -> None:
    """Drop the response-only keys from ``cfg.metadata`` and set ``_nats.req.level``."""
    cfg.metadata = {
        k: v for k, v in cfg.metadata.items() if k not in (SERVER_VERSION_KEY, SERVER_LEVEL_KEY)
    }
    cfg.metadata[REQUIRED_LEVEL_KEY] = str(required_api_level(cfg))


def set_dynamic_metadata(cfg: StreamConfig, version: str) -> StreamConfig:
    """A copy of ``cfg`` whose metadata also names this server's version and API level."""
    out = dataclasses.replace(cfg, metadata=dict(cfg.metadata))
    out.metadata[SERVER_VERSION_KEY] = version
    out.metadata[SERVER_LEVEL_KEY] = str(API_LEVEL)
    return out
