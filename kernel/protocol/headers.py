"""NATS message header blocks (ADR-4): build, parse, and look up one header.

A block is ``NATS/1.0[ <3-digit status>[ <description>]]\\r\\n`` followed by
``Name: Value\\r\\n`` lines and an empty line.  Names keep their case and are matched
case-sensitively by exact bytes, like nats-server does for ``Nats-Msg-Id`` and friends.
Text is UTF-8; bytes that are not valid UTF-8 survive a parse/build round trip
(``surrogateescape``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["NO_RESPONDERS_HDR", "build_headers", "header_value", "parse_headers"]

#: The header block of a "no responders" status message.
NO_RESPONDERS_HDR = b"NATS/1.0 503\r\n\r\n"

_VERSION = b"NATS/1.0"
_CRLF = b"\r\n"
_BLANKS = b" \t"

HeaderText = str | bytes
HeaderInput = (
    Mapping[HeaderText, HeaderText | Iterable[HeaderText]] | Iterable[tuple[HeaderText, HeaderText]]
)


def _encode(text: HeaderText) -> bytes:
    """UTF-8 bytes of ``text`` (bytes pass through)."""
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogateescape")


def _decode(raw: bytes) -> str:
    """Text of ``raw``; undecodable bytes round-trip through ``_encode``."""
    return raw.decode("utf-8", "surrogateescape")


def _pairs(headers: HeaderInput) -> Iterable[tuple[HeaderText, HeaderText]]:
    """(name, value) pairs from a mapping (a value may be a list) or a list of pairs."""
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if isinstance(value, str | bytes):
                yield name, value
            else:
                for item in value:
                    yield name, item
    else:
        yield from headers


def build_headers(
    headers: HeaderInput, status: str | None = None, description: str | None = None
) -> bytes:
    """A complete header block for ``headers`` with an optional status line.

    ``headers`` is a mapping (a list value gives one line per item) or a sequence of
    ``(name, value)`` pairs; names and values are ``str`` or ``bytes``.  Raises
    ``ValueError`` for an empty name, a name with ``:``, blanks or line breaks, a value
    or description with a line break, or a status that is not three digits.
    """
    first = _VERSION
    if status is not None:
        if len(status) != 3 or not status.isascii() or not status.isdigit():
            raise ValueError(f"header status must be 3 digits, got {status!r}")
        first += b" " + status.encode()
        if description:
            desc = _encode(description)
            if b"\r" in desc or b"\n" in desc:
                raise ValueError(f"line break in header description {description!r}")
            first += b" " + desc
    elif description:
        raise ValueError("a header description needs a status")
    lines = [first]
    for name, value in _pairs(headers):
        key = _encode(name)
        val = _encode(value)
        if not key or any(c in key for c in b":\r\n \t"):
            raise ValueError(f"invalid header name {name!r}")
        if b"\r" in val or b"\n" in val:
            raise ValueError(f"line break in value of header {name!r}")
        lines.append(key + b": " + val)
    lines.append(b"")
    lines.append(b"")
    return _CRLF.join(lines)


def parse_headers(block: bytes) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """Split a header block into ``(status, description, [(name, value), ...])``.

    ``status``/``description`` are None when absent.  Values are stripped of surrounding
    blanks; duplicate names are kept in order; lines without ``:`` are skipped; parsing
    stops at the empty line.  Raises ``ValueError`` if the block does not start with
    ``NATS/1.0``.
    """
    if not block.startswith(_VERSION):
        raise ValueError("header block does not start with NATS/1.0")
    lines = block.split(_CRLF)
    status = description = None
    rest = lines[0][len(_VERSION) :].strip(_BLANKS)
    if rest:
        code, _, desc = rest.partition(b" ")
        status = _decode(code)
        desc = desc.strip(_BLANKS)
        if desc:
            description = _decode(desc)
    pairs: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            break
        name, colon, value = line.partition(b":")
        if colon and name:
            pairs.append((_decode(name), _decode(value.strip(_BLANKS))))
    return status, description, pairs


def header_value(block: bytes, name: bytes) -> bytes | None:
    """The value of the first header called exactly ``name`` (case-sensitive), or None.

    Scans the bytes without building a dict: cheap enough to call per message for
    ``Nats-Msg-Id``, ``Nats-Expected-Last-Sequence`` and the like.
    """
    idx = block.find(b"\r\n" + name + b":")
    if idx < 0:
        return None
    end_of_headers = block.find(b"\r\n\r\n")
    if 0 <= end_of_headers < idx:
        return None
    start = idx + len(name) + 3
    stop = block.find(_CRLF, start)
    if stop < 0:
        stop = len(block)
    return block[start:stop].strip(_BLANKS)
