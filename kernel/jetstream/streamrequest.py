"""The ``STREAM.CREATE`` / ``STREAM.UPDATE`` request checks in nats-server's order.

nats-server's handlers (``jsStreamCreateRequest``, ``jsStreamUpdateRequest``) check a
request in a fixed order, and the first failure is the error the client sees.  The
checks that need no other stream are here; the engine adds the ones that do, at the
points named in each docstring: overlap with other streams (:func:`subjects_overlap`,
``10065``), a repeated create (:func:`same_config`, ``10058``), a missing stream
(``10059``) and account limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.streamcheck import check_stream_config, discard_new_per_subject
from natskern.kernel.jetstream.streamconfig import (
    REQUIRED_LEVEL_KEY,
    StreamConfig,
    decode_request,
    set_static_metadata,
)
from natskern.kernel.jetstream.transforms import transform_error
from natskern.kernel.subjects.tokens import is_valid_subject, subjects_collide
from natskern.kernel.subjects.transform import MappingFunction

__all__ = [
    "check_create",
    "check_create_sources",
    "check_update",
    "check_update_request",
    "finish_update",
    "same_config",
    "subjects_overlap",
]


def _invalid(text: str) -> E.ApiError:
    return E.STREAM_INVALID_CONFIG(err=text)


def check_create(subject_name: str, body: bytes | str, **options: object) -> StreamConfig:
    """Everything ``STREAM.CREATE.<subject_name>`` checks before touching other streams.

    Returns the config to create (defaults applied, ``_nats.req.level`` set); ``options``
    go to :func:`check_stream_config`, but ``limits_check(config)``, the account's
    limits on a new stream, which nats-server checks on the request as sent, before
    defaults and validation.  The engine then checks overlap with other
    streams, an existing stream of that name (:func:`same_config`) and account limits.
    """
    cfg, pedantic = decode_request(body)
    set_static_metadata(cfg)
    if subject_name != cfg.name:
        raise E.STREAM_MISMATCH()
    if "\\" in subject_name or "/" in subject_name:
        raise E.STREAM_NAME_CONTAINS_PATH_SEPARATORS()
    if cfg.sealed:
        raise _invalid("stream configuration for create can not be sealed")
    if cfg.mirror_direct and cfg.mirror is None:
        raise _invalid("stream has no mirror but does have mirror direct")
    limits_check = options.pop("limits_check", None)
    if limits_check is not None:
        limits_check(cfg)  # type: ignore[operator]
    out = check_stream_config(cfg, pedantic=pedantic, **options)  # type: ignore[arg-type]
    if out.num_replicas > 1:
        raise E.STREAM_REPLICAS_NOT_SUPPORTED()
    return out


def check_update_request(
    subject_name: str, body: bytes | str, **options: object
) -> tuple[StreamConfig, bool]:
    """The first half of ``STREAM.UPDATE``: decode and check; ``(config, pedantic)``.

    The engine then looks the stream up (``10059``) and calls :func:`check_update`.
    """
    cfg, pedantic = decode_request(body)
    cfg = check_stream_config(cfg, pedantic=pedantic, **options)  # type: ignore[arg-type]
    if subject_name != cfg.name:
        raise E.STREAM_MISMATCH()
    return cfg, pedantic


def check_update(
    old: StreamConfig, new: StreamConfig, *, pedantic: bool = False, **options: object
) -> StreamConfig:
    """nats-server's ``configUpdateCheck``: the config ``old`` becomes, or ApiError."""
    new = new.copy()
    set_static_metadata(new)
    cfg = check_stream_config(new, pedantic=pedantic, **options)  # type: ignore[arg-type]
    if cfg.name != old.name:
        raise _invalid("stream configuration name must match original")
    if cfg.num_replicas > 1:
        raise E.STREAM_REPLICAS_NOT_SUPPORTED()
    if cfg.storage != old.storage:
        raise _invalid("stream configuration update can not change storage type")
    if cfg.retention != old.retention and "workqueue" in (cfg.retention, old.retention):
        raise _invalid(
            "stream configuration update can not change retention policy to/from workqueue"
        )
    if old.sealed and not cfg.sealed:
        raise _invalid("stream configuration update can not unseal a sealed stream")
    if old.deny_delete and not cfg.deny_delete:
        raise _invalid("stream configuration update can not cancel deny message deletes")
    if old.deny_purge and not cfg.deny_purge:
        raise _invalid("stream configuration update can not cancel deny purge")
    if cfg.mirror is not None and cfg.mirror != old.mirror:
        raise E.STREAM_MIRROR_NOT_UPDATABLE()
    discard_new_per_subject(cfg)
    if old.allow_msg_ttl and not cfg.allow_msg_ttl:
        raise _invalid("message TTL status can not be disabled")
    if cfg.allow_msg_counter != old.allow_msg_counter:
        raise _invalid("stream configuration update can not change message counter setting")
    if old.allow_msg_schedules and not cfg.allow_msg_schedules:
        raise _invalid("message schedules can not be disabled")
    if old.persist_mode != cfg.persist_mode:
        raise _invalid("stream configuration update can not change persist mode")
    if cfg.sealed:
        cfg.max_age = 0
        cfg.discard = "new"
        cfg.deny_delete = cfg.deny_purge = True
        cfg.allow_rollup_hdrs = False
    return cfg


def same_config(new: StreamConfig, old: StreamConfig) -> bool:
    """Whether a repeated CREATE with ``new`` is the stream ``old`` (nats-server's DeepEqual).

    The ``_nats.req.level`` key is taken from ``old`` before comparing.
    """
    probe = new.copy()
    level = old.metadata.get(REQUIRED_LEVEL_KEY)
    if level is None:
        probe.metadata.pop(REQUIRED_LEVEL_KEY, None)
    else:
        probe.metadata[REQUIRED_LEVEL_KEY] = level
    return probe == old


def subjects_overlap(subjects: Iterable[str], others: Iterable[Iterable[str]]) -> bool:
    """Whether any of ``subjects`` collides with a subject of another stream (``10065``)."""
    mine = [s.encode() for s in subjects]
    for theirs in others:
        for other in theirs:
            raw = other.encode()
            if any(subjects_collide(raw, s) for s in mine):
                return True
    return False


def check_create_sources(cfg: StreamConfig, functions: Mapping[str, MappingFunction]) -> None:
    """The filter and transform checks ``addStream`` makes after ``check_create`` (``10049``).

    The engine calls this after the existing-stream check and before the overlap check.
    """
    m = cfg.mirror
    if m is not None:
        if not m.subject_transforms and m.filter_subject and not _valid(m.filter_subject):
            raise _create(f"subject filter '{m.filter_subject}' for the mirror invalid subject")
        for st in m.subject_transforms:
            if st.src and not _valid(st.src):
                raise _create(
                    f"invalid subject transform source '{st.src}' for the mirror: invalid subject"
                )
            if st.dest and (err := transform_error(st.src, st.dest, functions)) is not None:
                raise _create(
                    f"subject transform from '{st.src}' to '{st.dest}' for the mirror: {err}"
                )
    for src in cfg.sources:
        if src is None:
            continue
        fs = src.filter_subject
        if not src.subject_transforms and fs and not _valid(fs):
            raise _create(f"subject filter '{fs}' for the source: invalid subject")
        for st in src.subject_transforms:
            if st.src and not _valid(st.src):
                raise _create(f"subject filter '{st.src}' for the source: invalid subject")
            if st.dest and (err := transform_error(st.src, st.dest, functions)) is not None:
                raise _create(
                    f"subject transform from '{st.src}' to '{st.dest}' for the source: {err}"
                )


def _create(text: str) -> E.ApiError:
    return E.STREAM_CREATE(err=text)


def _valid(subject: str) -> bool:
    return is_valid_subject(subject.encode())


def finish_update(cfg: StreamConfig, functions: Mapping[str, MappingFunction] | None) -> None:
    """What nats-server's ``update`` does to a checked config as it applies it (``10069``).

    The engine calls this after the overlap check.  An empty republish destination
    becomes ``>`` here (it stays empty on create), and the republish transform is built.
    """
    rp = cfg.republish
    if rp is not None:
        rp.src = rp.src or ">"
        rp.dest = rp.dest or ">"
        if (err := transform_error(rp.src, rp.dest, functions)) is not None:
            raise E.STREAM_UPDATE(
                err=f"stream configuration for republish from '{rp.src}' to '{rp.dest}': {err}"
            )
