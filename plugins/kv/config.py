"""A bucket's stream configuration, as nats.go's ``prepareKeyValueConfig`` builds it.

Stream ``KV_<bucket>`` with subjects ``$KV.<bucket>.>``, or, for a bucket that mirrors
another, ``mirror`` + ``mirror_direct`` and no subjects; a bucket with sources keeps its
subjects and sources each origin bucket with the transform ``$KV.<src>.>`` ->
``$KV.<bucket>.>``.  :func:`bucket_prefixes` is the other half: which subjects a bound
bucket reads (a mirror stores its origin's subjects) and writes (a mirror's writes go to
its origin, through the origin's API prefix when it is external).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["bucket_prefixes", "bucket_stream_config", "source_config"]

_BUCKET = re.compile(r"^[a-zA-Z0-9_-]+$")
_NS = 1_000_000_000
_PRE = "KV_"

#: A source or mirror: an origin bucket's name (``B`` or ``KV_B``) or a StreamSource JSON
#: object (``name``, ``domain``, ``external``, ``filter_subject``, ``opt_start_seq``, ...).
SourceSpec = str | Mapping[str, Any]


def source_config(spec: SourceSpec) -> dict[str, Any]:
    """The StreamSource JSON of ``spec``: ``KV_`` prepended to a bare bucket name, a
    ``domain`` turned into ``external.api`` ``$JS.<domain>.API`` (as nats.go does)."""
    src: dict[str, Any] = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = str(src.get("name", ""))
    if not name.startswith(_PRE):
        name = _PRE + name
    src["name"] = name
    domain = src.pop("domain", None)
    if domain:
        src["external"] = {"api": f"$JS.{domain}.API"}
    return src


def bucket_stream_config(
    bucket: str,
    *,
    history: int = 1,
    ttl: float = 0,
    max_value_size: int = -1,
    max_bytes: int = -1,
    storage: str = "file",
    replicas: int = 1,
    description: str | None = None,
    republish: Mapping[str, Any] | None = None,
    compression: bool = False,
    metadata: Mapping[str, str] | None = None,
    placement: Mapping[str, Any] | None = None,
    limit_marker_ttl: float = 0,
    mirror: SourceSpec | None = None,
    sources: Sequence[SourceSpec] = (),
) -> dict[str, Any]:
    """The STREAM.CREATE body for ``bucket``; ValueError on an invalid option."""
    if not _BUCKET.match(bucket):
        raise ValueError(f"invalid bucket name {bucket!r}")
    if not 1 <= history <= 64:
        raise ValueError("history must be 1..64")
    if mirror is not None and sources:
        raise ValueError("a bucket mirrors another or has sources, not both")
    dup = 120 * _NS
    max_age = int(ttl * _NS)
    if 0 < max_age < dup:
        dup = max_age
    config: dict[str, Any] = {
        "name": _PRE + bucket,
        "subjects": [f"$KV.{bucket}.>"],
        "max_msgs_per_subject": history,
        "max_age": max_age,
        "duplicate_window": dup,
        "max_msg_size": max_value_size,
        "max_bytes": max_bytes,
        "max_msgs": -1,
        "max_consumers": -1,
        "storage": storage,
        "num_replicas": replicas,
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
        "discard": "new",
    }
    if description:
        config["description"] = description
    if republish:
        config["republish"] = dict(republish)
    if compression:
        config["compression"] = "s2"
    if metadata:
        config["metadata"] = dict(metadata)
    if placement:
        config["placement"] = dict(placement)
    if limit_marker_ttl:
        if limit_marker_ttl < 1:
            raise ValueError("limit_marker_ttl must be at least 1 s")
        config["allow_msg_ttl"] = True
        config["subject_delete_marker_ttl"] = int(limit_marker_ttl * _NS)
    if mirror is not None:
        del config["subjects"]
        config["mirror"] = source_config(mirror)
        config["mirror_direct"] = True
    for spec in sources:
        src = source_config(spec)
        if not src.get("subject_transforms"):
            origin = src["name"][len(_PRE) :]
            if src.get("external") is None or origin != bucket:
                src["subject_transforms"] = [{"src": f"$KV.{origin}.>", "dest": f"$KV.{bucket}.>"}]
        config.setdefault("sources", []).append(src)
    return config


def bucket_prefixes(bucket: str, stream_config: Mapping[str, Any]) -> tuple[str, str]:
    """(read prefix, write prefix) of a bound bucket, from its stream's config.

    A mirror holds its origin's subjects, ``$KV.<origin>.<key>``, so that is what its
    reads look for; its writes go to the origin (``<api>.$KV.<origin>.`` through an
    external origin's API prefix, as nats.go's ``putPre``).
    """
    own = f"$KV.{bucket}."
    mirror = stream_config.get("mirror")
    if not mirror:
        return own, own
    name = str(mirror.get("name", ""))
    origin = name[len(_PRE) :] if name.startswith(_PRE) else name
    read = f"$KV.{origin}."
    api = (mirror.get("external") or {}).get("api")
    return read, f"{api}.{read}" if api else read
