"""Stream configuration checks: nats-server's defaults, validation and update rules.

Mirrors ``checkStreamCfg`` and ``configUpdateCheck`` of nats-server's ``stream.go`` and
the same error codes and descriptions.  The order of checks of the ``STREAM.CREATE`` /
``STREAM.UPDATE`` handlers around it is :mod:`natskern.kernel.jetstream.streamrequest`.

Beyond nats-server: features above :data:`natskern.kernel.jetstream.API_LEVEL` are
refused (``10052``) instead of being stored and not honoured.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.gojson import go_quote
from natskern.kernel.jetstream.streamconfig import (
    StreamConfig,
    StreamSource,
)
from natskern.kernel.jetstream.transforms import mapping_error, transform_error
from natskern.kernel.jetstream.wire import go_duration
from natskern.kernel.subjects.tokens import (
    is_literal,
    is_subset,
    is_valid_literal_subject,
    is_valid_subject,
    subjects_collide,
)
from natskern.kernel.subjects.transform import MappingFunction

__all__ = [
    "MAX_DESCRIPTION_LEN",
    "MAX_METADATA_LEN",
    "MAX_NAME_LEN",
    "MAX_REPLICAS",
    "check_stream_config",
    "discard_new_per_subject",
    "go_hash",
    "is_valid_name",
    "source_iname",
]

MAX_NAME_LEN: Final = 255
MAX_DESCRIPTION_LEN: Final = 4 * 1024
MAX_METADATA_LEN: Final = 128 * 1024
MAX_REPLICAS: Final = 5
DEFAULT_DUPLICATE_WINDOW: Final = 120_000_000_000  # 2 minutes
_MS100: Final = 100_000_000
_SECOND: Final = 1_000_000_000
_API_PREFIX: Final = b"$JS.API"
_INVALID_NAME = re.compile(r"[ \t\r\n\f.*>\\/]").search

#: ``lookup(name)`` -> the config of a stream of this account, or None.
Lookup = Callable[[str], "StreamConfig | None"]


def _no_streams(name: str) -> StreamConfig | None:
    return None


def is_valid_name(name: str) -> bool:
    """nats-server's ``isValidAssetName``: non-empty, none of whitespace ``. * > \\ /``."""
    return bool(name) and _INVALID_NAME(name) is None


def _invalid(text: str) -> ApiError:
    return E.STREAM_INVALID_CONFIG(err=text)


def _pedantic(text: str) -> ApiError:
    return E.PEDANTIC(err=text)


def _subject(s: str) -> bytes:
    return s.encode()


def _valid(s: str) -> bool:
    return is_valid_subject(s.encode())


def _collide(a: str, b: str) -> bool:
    return bool(a) and bool(b) and subjects_collide(a.encode(), b.encode())


def _limits(cfg: StreamConfig, pedantic: bool) -> None:
    for attr in ("max_msgs", "max_msgs_per_subject", "max_bytes", "max_msg_size", "max_consumers"):
        value = getattr(cfg, attr)
        if value == 0 or value < -1:
            if pedantic and value < -1:
                raise _pedantic(f"{attr} must be set to -1")
            setattr(cfg, attr, -1)


def _durations(cfg: StreamConfig, pedantic: bool, max_duplicate_window: int) -> None:
    if cfg.max_age < 0:
        raise _invalid("max age can not be negative")
    if cfg.max_age != 0 and cfg.max_age < _MS100:
        raise _invalid("max age needs to be >= 100ms")
    if cfg.duplicate_window == 0 and cfg.mirror is None and not cfg.sources:
        window = DEFAULT_DUPLICATE_WINDOW
        if 0 < max_duplicate_window < window:
            if pedantic:
                raise _pedantic("duplicate window limits are higher than current limits")
            window = max_duplicate_window
        if cfg.max_age != 0 and cfg.max_age < window:
            if pedantic:
                raise _pedantic("duplicate window cannot be bigger than max age")
            cfg.duplicate_window = cfg.max_age
        else:
            cfg.duplicate_window = window
    if cfg.duplicate_window < 0:
        raise _invalid("duplicates window can not be negative")
    if cfg.max_age != 0 and cfg.duplicate_window > cfg.max_age:
        raise _invalid("duplicates window can not be larger then max age")
    if max_duplicate_window > 0 and cfg.duplicate_window > max_duplicate_window:
        limit = go_duration(max_duplicate_window)
        raise _invalid(f"duplicates window can not be larger then server limit of {limit}")
    if 0 < cfg.duplicate_window < _MS100:
        raise _invalid("duplicates window needs to be >= 100ms")


def _features(cfg: StreamConfig, pedantic: bool) -> None:
    if cfg.deny_purge and cfg.allow_rollup_hdrs:
        raise _invalid("roll-ups require the purge permission")
    if cfg.allow_msg_counter:
        if cfg.discard == "new":
            raise _invalid("counter stream cannot use discard new")
        if cfg.allow_msg_ttl:
            raise _invalid("counter stream cannot use message TTLs")
        if cfg.allow_msg_schedules:
            raise _invalid("counter stream cannot use message schedules")
        if cfg.retention != "limits":
            raise _invalid("counter stream can only use limits retention")
    discard_new_per_subject(cfg)
    if cfg.subject_delete_marker_ttl > 0:
        if cfg.subject_delete_marker_ttl < _SECOND:
            raise _invalid("subject delete marker TTL must be at least 1 second")
        if not cfg.allow_msg_ttl:
            if pedantic:
                raise _invalid("subject delete marker cannot be set if message TTLs are disabled")
            cfg.allow_msg_ttl = True
        if not cfg.allow_rollup_hdrs:
            if pedantic:
                raise _invalid("subject delete marker cannot be set if roll-ups are disabled")
            cfg.allow_rollup_hdrs, cfg.deny_purge = True, False
    elif cfg.subject_delete_marker_ttl < 0:
        raise _invalid("subject delete marker TTL must not be negative")
    if cfg.allow_msg_schedules:
        if cfg.discard == "new":
            raise _invalid("message scheduling cannot use discard new")
        if not cfg.allow_rollup_hdrs:
            if pedantic:
                raise _invalid("message scheduling cannot be set if roll-ups are disabled")
            cfg.allow_rollup_hdrs, cfg.deny_purge = True, False
    if cfg.persist_mode == "async":
        if cfg.storage != "file":
            raise _invalid("async persist mode is only supported on file storage")
        if cfg.num_replicas > 1:
            raise _invalid("async persist mode is not supported on replicated streams")
        if cfg.allow_atomic:
            raise _invalid("async persist mode is not supported with atomic batch publish")


def discard_new_per_subject(cfg: StreamConfig) -> None:
    """The ``discard_new_per_subject`` requirements (checked on create and on update)."""
    if cfg.discard_new_per_subject:
        if cfg.discard != "new":
            raise _invalid("discard new per subject requires discard new policy to be set")
        if cfg.max_msgs_per_subject <= 0:
            raise _invalid("discard new per subject requires max msgs per subject > 0")


def _consumer_ok(name: str, deliver: str) -> bool:
    return is_valid_name(name) and is_literal(deliver.encode()) and _valid(deliver)


def _mirror(
    cfg: StreamConfig, pedantic: bool, lookup: Lookup, fns: Mapping[str, MappingFunction] | None
) -> tuple[list[str], list[str], list[str]]:
    """Checks of ``cfg.mirror``: (origin subjects, delivery prefixes, api prefixes)."""
    m = cfg.mirror
    assert m is not None
    if cfg.first_seq > 0:
        raise E.MIRROR_WITH_FIRST_SEQ()
    if cfg.subjects:
        raise E.MIRROR_WITH_SUBJECTS()
    if cfg.sources:
        raise E.MIRROR_WITH_SOURCES()
    if cfg.allow_msg_counter:
        raise E.MIRROR_WITH_COUNTERS()
    if cfg.allow_atomic:
        raise E.MIRROR_WITH_ATOMIC_PUBLISH()
    if cfg.allow_batched:
        raise E.MIRROR_WITH_BATCH_PUBLISH()
    if cfg.allow_msg_schedules:
        raise E.MIRROR_WITH_MSG_SCHEDULES()
    if (c := m.consumer) is not None and (
        not _consumer_ok(c.name, c.deliver_subject)
        or m.opt_start_seq
        or m.opt_start_time is not None
        or m.filter_subject
    ):
        raise E.MIRROR_DURABLE_CONSUMER_CFG_INVALID()
    if m.filter_subject and m.subject_transforms:
        raise E.MIRROR_MULTIPLE_FILTERS_NOT_ALLOWED()
    if cfg.subject_delete_marker_ttl > 0:
        raise _invalid("subject delete markers forbidden on mirrors")
    for i, tr in enumerate(m.subject_transforms):
        if tr.src and not _valid(tr.src):
            raise E.MIRROR_INVALID_SUBJECT_FILTER(err=f"invalid subject {tr.src}")
        if (err := mapping_error(tr.src, tr.dest, fns)) is not None:
            raise E.MIRROR_INVALID_TRANSFORM_DESTINATION(err=err)
        for j, other in enumerate(m.subject_transforms):
            if i != j and (tr.src == other.src or _collide(tr.src, other.src)):
                raise E.MIRROR_OVERLAPPING_SUBJECT_FILTERS()
    subjects: list[str] = []
    delivery: list[str] = []
    api: list[str] = []
    if m.external is None:
        if not is_valid_name(m.name):
            raise E.MIRROR_INVALID_STREAM_NAME()
        origin = lookup(m.name)
        if origin is not None:
            subjects.extend(origin.subjects)
            if 0 < cfg.max_msg_size < origin.max_msg_size:
                raise E.MIRROR_MAX_MESSAGE_SIZE_TOO_BIG()
            if pedantic and cfg.mirror_direct != origin.allow_direct:
                raise _pedantic("origin stream has direct get set, mirror has it disabled")
            cfg.mirror_direct = origin.allow_direct
    else:
        if m.external.deliver:
            delivery.append(m.external.deliver)
        if m.external.api:
            api.append(m.external.api)
    return subjects, delivery, api


_HASH_DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def go_hash(text: str) -> str:
    """nats-server's ``getHash``: 8 base-62 characters of the SHA-256 of ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_HASH_DIGITS[b % 62] for b in digest[:8])


def source_iname(src: StreamSource) -> str:
    """nats-server's ``composeIName``: what makes two sources the same source (an
    ``external`` one is ``<name>:<hash of its api prefix>``, the first token of the
    ``Nats-Stream-Source`` header of what it copies)."""
    name = src.name
    if src.external is not None:
        name += ":" + go_hash(src.external.api)
    if src.consumer is not None:
        name += ":C=" + go_hash(src.consumer.name)
    if not src.subject_transforms:
        return f"{name} {src.filter_subject or '>'} >"
    froms = "\f".join(t.src or ">" for t in src.subject_transforms)
    tos = "\f".join(t.dest or ">" for t in src.subject_transforms)
    return f"{name} {froms} {tos}"


def _cname(src: StreamSource) -> str:
    """nats-server's ``composeCName``: the stream and durable consumer a source uses."""
    name = src.name + (":" + src.external.api if src.external is not None else "")
    return f"{name} {src.consumer.name if src.consumer is not None else ''}"


def _sources(
    cfg: StreamConfig, lookup: Lookup, fns: Mapping[str, MappingFunction] | None
) -> tuple[list[str], list[str], list[str]]:
    if cfg.sources and cfg.allow_msg_schedules:
        raise E.SOURCE_WITH_MSG_SCHEDULES()
    seen: set[str] = set()
    consumers: set[str] = set()
    subjects: list[str] = []
    delivery: list[str] = []
    api: list[str] = []
    for src in cfg.sources:
        if src is None or not is_valid_name(src.name):
            raise E.SOURCE_INVALID_STREAM_NAME()
        key = source_iname(src)
        if key in seen:
            raise E.SOURCE_DUPLICATE_DETECTED()
        seen.add(key)
        if src.filter_subject and src.subject_transforms:
            raise E.SOURCE_MULTIPLE_FILTERS_NOT_ALLOWED()
        for tr in src.subject_transforms:
            if tr.src and not _valid(tr.src):
                raise E.SOURCE_INVALID_SUBJECT_FILTER(err=f"invalid subject {tr.src}")
            if (err := mapping_error(tr.src, tr.dest, fns)) is not None:
                raise E.SOURCE_INVALID_TRANSFORM_DESTINATION(err=err)
        for i, tr in enumerate(src.subject_transforms):
            for j, other in enumerate(src.subject_transforms):
                if i != j and is_subset(tr.src.encode(), other.src.encode()):
                    raise E.SOURCE_OVERLAPPING_SUBJECT_FILTERS()
        if (c := src.consumer) is not None:
            if (
                not _consumer_ok(c.name, c.deliver_subject)
                or src.opt_start_seq
                or src.opt_start_time is not None
                or src.filter_subject
            ):
                raise E.SOURCE_DURABLE_CONSUMER_CFG_INVALID()
            ckey = _cname(src)
            if ckey in consumers:
                raise E.SOURCE_DURABLE_CONSUMER_DUPLICATE_DETECTED()
            consumers.add(ckey)
        if src.external is None:
            origin = lookup(src.name)
            if origin is not None:
                subjects.extend(origin.subjects)
                if 0 < cfg.max_msg_size < origin.max_msg_size:
                    raise E.SOURCE_MAX_MESSAGE_SIZE_TOO_BIG()
        else:
            if src.external.deliver:
                delivery.append(src.external.deliver)
            if src.external.api:
                api.append(src.external.api)
    return subjects, delivery, api


def _prefixes(subjects: list[str], delivery: list[str], api: list[str]) -> None:
    for pfx in delivery:
        if not is_valid_literal_subject(pfx.encode()):
            raise E.STREAM_INVALID_EXTERNAL_DELIVERY_SUBJ(prefix=pfx)
        for sub in subjects:
            if _collide(sub, f"{pfx}.{sub}"):
                raise E.STREAM_EXTERNAL_DEL_PREFIX_OVERLAPS(prefix=pfx, subject=sub)
    for pfx in api:
        if not is_valid_literal_subject(pfx.encode()):
            raise _invalid(
                f"stream external api prefix {go_quote(pfx)} "
                "must be a valid subject without wildcards"
            )
        if subjects_collide(pfx.encode(), _API_PREFIX):
            raise E.STREAM_EXTERNAL_API_OVERLAP(prefix=pfx, subject="$JS.API")


def _cycles(cfg: StreamConfig, lookup: Lookup) -> None:
    todo = [cfg]
    visited: set[str] = set()
    while todo:
        cur = todo.pop(0)
        visited.add(cur.name)
        for src in cur.sources:
            if src is None or src.external is not None:
                continue
            if src.name in visited:
                if not src.filter_subject or any(
                    _collide(s, src.filter_subject) for s in cur.subjects
                ):
                    raise _invalid("detected cycle")
            elif (other := lookup(src.name)) is not None:
                todo.append(other)
        m = cur.mirror
        if m is not None and m.external is None:
            if m.name in visited:
                raise _invalid("detected cycle")
            if (other := lookup(m.name)) is not None:
                todo.append(other)


def _subjects(cfg: StreamConfig) -> None:
    if not cfg.subjects:
        if cfg.mirror is None and not cfg.sources:
            cfg.subjects = [cfg.name]
        return
    if cfg.mirror is not None:
        raise E.MIRROR_WITH_SUBJECTS()
    seen: set[str] = set()
    for i, subj in enumerate(cfg.subjects):
        raw = subj.encode()
        if not is_valid_subject(raw):
            raise _invalid("invalid subject")
        if subj in seen:
            raise _invalid("duplicate subjects detected")
        if subj == ">":
            if not cfg.no_ack:
                raise _invalid("capturing all subjects requires no-ack to be true")
            if cfg.num_replicas != 1:
                raise _invalid("capturing all subjects requires replicas of 1")
        if not cfg.no_ack:
            for space in (b"$JS.>", b"$JSC.>", b"$NRG.>"):
                if subjects_collide(raw, space) and not is_subset(raw, b"$JS.EVENT.>"):
                    raise _invalid(
                        "subjects that overlap with jetstream api require no-ack to be true"
                    )
            if subjects_collide(raw, b"$SYS.>") and not is_subset(raw, b"$SYS.ACCOUNT.>"):
                raise _invalid("subjects that overlap with system api require no-ack to be true")
        for other in cfg.subjects[i + 1 :]:
            if _collide(other, subj):
                raise _invalid(f"subject {go_quote(subj)} overlaps with {go_quote(other)}")
        seen.add(subj)


def _republish(
    cfg: StreamConfig, pedantic: bool, fns: Mapping[str, MappingFunction] | None
) -> None:
    rp = cfg.republish
    if rp is None:
        return
    if not rp.src:
        if pedantic:
            raise _pedantic("republish source can not be empty")
        rp.src = ">"
    st = cfg.subject_transform
    if (
        rp.dest == ">"
        and rp.src == ">"
        and st is not None
        and len(cfg.subjects) == 1
        and st.src == cfg.subjects[0]
    ):
        if pedantic:
            raise _pedantic("implicit republish based on subject transform")
        rp.src = rp.dest = st.dest
    if any(_collide(rp.dest, s) for s in cfg.subjects):
        raise _invalid("stream configuration for republish destination forms a cycle")
    if rp.dest and transform_error(rp.src, rp.dest, fns) is not None:
        raise _invalid(
            "stream configuration for republish with transform "
            f"from '{rp.src}' to '{rp.dest}' not valid"
        )


def _unsupported(cfg: StreamConfig) -> None:
    """Refuse what natskern does not implement (nats-server would store and honour it)."""
    for attr, what in (
        ("allow_msg_counter", "message counters"),
        ("allow_atomic", "atomic batch publish"),
        ("allow_msg_schedules", "message schedules"),
        ("allow_batched", "batch publish"),
    ):
        if getattr(cfg, attr):
            raise _invalid(f"{what} ({attr}) not supported by this server (API level {API_LEVEL})")
    if cfg.persist_mode == "async":
        raise _invalid(f"async persist mode not supported by this server (API level {API_LEVEL})")


def check_stream_config(
    config: StreamConfig,
    *,
    pedantic: bool = False,
    lookup: Lookup = _no_streams,
    functions: Mapping[str, MappingFunction] | None = None,
    max_duplicate_window: int = 0,
    max_bytes_limits: Callable[[StreamConfig], tuple[bool, int]] | None = None,
) -> StreamConfig:
    """nats-server's ``checkStreamCfg``: a copy of ``config`` with defaults, or ApiError.

    ``lookup`` finds the account's other streams (mirror and source checks, cycles);
    ``functions`` are the broker's mapping functions (transforms compile through them);
    ``max_duplicate_window`` is the server's ``duplicate_window`` limit (0: none);
    ``max_bytes_limits(cfg)`` gives the account's ``(max_bytes_required, max_stream_bytes)``.
    """
    if not is_valid_name(config.name):
        raise _invalid("stream name is required and can not contain '.', '*', '>', '\\', '/'")
    if len(config.name.encode()) > MAX_NAME_LEN:
        raise _invalid(f"stream name is too long, maximum allowed is {MAX_NAME_LEN}")
    if len(config.description.encode()) > MAX_DESCRIPTION_LEN:
        raise _invalid(f"stream description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}")
    if (
        sum(len(k.encode()) + len(v.encode()) for k, v in config.metadata.items())
        > MAX_METADATA_LEN
    ):
        raise _invalid(f"stream metadata exceeds maximum size of {MAX_METADATA_LEN} bytes")
    cfg = config.copy()
    if cfg.num_replicas == 0:
        cfg.num_replicas = 1
    if cfg.num_replicas > MAX_REPLICAS:
        raise _invalid(f"maximum replicas is {MAX_REPLICAS}")
    if cfg.num_replicas < 0:
        raise E.REPLICAS_COUNT_CANNOT_BE_NEGATIVE()
    _limits(cfg, pedantic)
    _durations(cfg, pedantic, max_duplicate_window)
    _features(cfg, pedantic)
    subjects: list[str] = []
    delivery: list[str] = []
    api: list[str] = []
    if cfg.mirror is not None:
        subjects, delivery, api = _mirror(cfg, pedantic, lookup, functions)
    more = _sources(cfg, lookup, functions)
    subjects, delivery, api = subjects + more[0], delivery + more[1], api + more[2]
    _prefixes(subjects, delivery, api)
    _cycles(cfg, lookup)
    _subjects(cfg)
    if not cfg.subjects and not cfg.sources and cfg.mirror is None:
        raise _invalid("stream needs at least one configured subject or be a source/mirror")
    if max_bytes_limits is not None:
        required, limit = max_bytes_limits(cfg)
        if required and cfg.max_bytes <= 0:
            raise E.STREAM_MAX_BYTES_REQUIRED()
        if limit > 0 and cfg.max_bytes > limit:
            raise E.STREAM_MAX_STREAM_BYTES_EXCEEDED()
    if (st := cfg.subject_transform) is not None:
        if st.src and not _valid(st.src):
            raise E.STREAM_TRANSFORM_INVALID_SOURCE(err=f"invalid subject {st.src}")
        if (err := mapping_error(st.src, st.dest, functions)) is not None:
            raise E.STREAM_TRANSFORM_INVALID_DESTINATION(err=err)
    _republish(cfg, pedantic, functions)
    if cfg.placement is not None and not (
        cfg.placement.cluster or cfg.placement.tags or cfg.placement.preferred
    ):
        cfg.placement = None
    if cfg.placement is not None and cfg.placement.preferred:
        raise _invalid("preferred server not permitted in placement")
    _unsupported(cfg)
    return cfg
