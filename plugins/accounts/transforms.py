"""Subject transforms of imports: stream ``prefix``/``to`` and service ``to`` (local subjects).

nats-server's rules (``accounts.go``, checked against v2.9.10):

* Stream import: ``prefix: p`` delivers ``x.y`` as ``p.x.y`` and wins over ``to``; the prefix
  may not contain wildcards.  ``to`` is a mapping destination for the imported subject
  (``$N``, ``{{wildcard(N)}}`` and the other mapping functions) that must use every ``*``.
* Service import: ``to`` is the subject the importing account publishes on.  It may contain
  ``*`` (matched to the exported subject's wildcards in order), ``$N`` or
  ``{{wildcard(N)}}`` (the N-th wildcard of the exported subject) and ``>`` when the export
  has one; every wildcard must be used.  A request on ``tt.1.2`` through
  ``{service: {subject: "t.*.*"}, to: "tt.$2.$1"}`` reaches the exporter as ``t.2.1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from natskern.kernel.core.imports import Transform
from natskern.kernel.errors import ConfigError
from natskern.kernel.subjects.tokens import is_literal, is_valid_subject
from natskern.kernel.subjects.transform import MappingError, MappingFunction, compile_mapping

__all__ = ["TransformError", "local_pattern", "service_mapping", "stream_transform"]

_REFERENCE = re.compile(r"\$(\d+)|\{\{\s*wildcard\s*\(\s*(\d+)\s*\)\s*\}\}", re.IGNORECASE)
_UNUSED = "invalid mapping destination: not using all of the token wildcard(s) in {}"


class TransformError(ConfigError):
    """An import's subject mapping cannot be built (the reason, in nats-server's words)."""


def _reference(token: str) -> int | None:
    match = _REFERENCE.fullmatch(token)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def _prefixer(prefix: bytes) -> Transform:
    def add_prefix(subject: bytes) -> bytes:
        return prefix + subject

    return add_prefix


def stream_transform(
    subject: str, prefix: str, to: str, functions: Mapping[str, MappingFunction]
) -> Transform | None:
    """The exporter-side -> importer-side subject function of a stream import (None: same).

    Raises :class:`TransformError` for a wildcard prefix or a destination that does not
    use every wildcard of ``subject``.
    """
    if prefix:
        prefix = prefix.rstrip(".")
        raw = prefix.encode()
        if not is_valid_subject(raw) or not is_literal(raw):
            raise TransformError("stream import prefix can not contain wildcard tokens")
        return _prefixer(raw + b".")
    if not to or to == subject:
        return None
    tokens = to.split(".")
    if not any("{{" in t and _reference(t) is None for t in tokens):
        wildcards = subject.split(".").count("*")
        used = {n for n in map(_reference, tokens) if n is not None}
        if not used >= set(range(1, wildcards + 1)):
            raise TransformError(
                f'failed to create mapping transform for stream import subject "{subject}" '
                f'to "{to}": {_UNUSED.format(to)}'
            )
    try:
        return compile_mapping(subject, to, functions).apply
    except MappingError as err:
        raise TransformError(
            f'failed to create mapping transform for stream import subject "{subject}" '
            f'to "{to}": {err}'
        ) from None


def service_mapping(
    remote: str, to: str, functions: Mapping[str, MappingFunction]
) -> tuple[str, Transform | None]:
    """``(local subject, local -> remote transform)`` of a service import of ``remote``.

    ``to`` is the import's ``to`` (empty: the importer publishes on ``remote`` itself).
    Raises :class:`TransformError` when ``to`` does not fit ``remote``.
    """
    if not to or to == remote:
        return remote, None

    def fail(reason: str) -> TransformError:
        return TransformError(
            f'failed to create mapping transform for service import subject "{to}" '
            f'to "{remote}": {reason}'
        )

    rtoks = remote.split(".")
    ltoks = to.split(".")
    has_fwc = rtoks[-1] == ">"
    if has_fwc != (ltoks[-1] == ">"):
        raise fail("invalid subject")
    count = rtoks.count("*")
    # remote wildcard N (1-based) -> local wildcard M (1-based)
    chosen: dict[int, int] = {}
    positional: list[int] = []
    local: list[str] = []
    for token in ltoks[:-1] if has_fwc else ltoks:
        index = _reference(token)
        if index is not None:
            if not 1 <= index <= count:
                raise fail(f"invalid mapping destination: wildcard index out of range in {token}")
            if index in chosen:
                raise fail(f"invalid mapping destination: wildcard {token} is used twice")
            local.append("*")
            chosen[index] = local.count("*")
        elif token == "*":
            local.append("*")
            positional.append(local.count("*"))
        elif "{{" in token or "}}" in token:
            raise fail(f"only $N and {{{{wildcard(N)}}}} may be used, not {token}")
        else:
            local.append(token)
    rest = [n for n in range(1, count + 1) if n not in chosen]
    if len(rest) != len(positional):
        raise fail(_UNUSED.format(to))
    chosen.update(zip(rest, positional, strict=True))
    if has_fwc:
        local.append(">")
    pattern = ".".join(local)
    if not is_valid_subject(pattern.encode()):
        raise fail("invalid subject")
    destination = []
    n = 0
    for token in rtoks:
        if token == "*":
            n += 1
            destination.append(f"${chosen[n]}")
        else:
            destination.append(token)
    try:
        transform = compile_mapping(pattern, ".".join(destination), functions)
    except MappingError as err:
        raise fail(str(err)) from None
    return pattern, transform.apply


def local_pattern(subject: str, prefix: str = "", to: str = "") -> str:
    """The importer-side subjects a stream import delivers on, as a pattern (cycle checks)."""
    if prefix:
        return f"{prefix.rstrip('.')}.{subject}"
    if not to:
        return subject
    return ".".join("*" if ("$" in t or "{{" in t) else t for t in to.split("."))
