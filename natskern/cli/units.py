"""Parsing and formatting of the units natscli users type and read.

Durations follow Go's ``time.ParseDuration`` (``1s``, ``300ms``, ``1m30s``) plus
the ``d``/``w`` suffixes natscli accepts; a bare number means seconds.  Sizes
accept ``128``, ``128B``, ``1KB``, ``1KiB``, ``2M``... with binary multiples,
as natscli's byte parser does.  Numbers are shown thousands-separated and
durations humanised the way natscli prints them.
"""

from __future__ import annotations

import re

from natskern.cli.output import go_quote
from natskern.kernel import durations

__all__ = [
    "format_count",
    "format_duration",
    "format_size",
    "parse_duration",
    "parse_size",
]

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_SIZE_SHIFT = {
    "": 0,
    "B": 0,
    "K": 10,
    "KB": 10,
    "KIB": 10,
    "M": 20,
    "MB": 20,
    "MIB": 20,
    "G": 30,
    "GB": 30,
    "GIB": 30,
    "T": 40,
    "TB": 40,
    "TIB": 40,
}


def parse_duration(text: str) -> float:
    """Parse a Go-style duration (``"1s"``, ``"1m30s"``, ``"2d"``, ``"-1"``) into seconds.

    Surrounding whitespace is ignored, a bare number is taken as seconds, and natscli's
    ``d``/``w`` units join Go's.  Raises :class:`ValueError` with a message naming the
    bad input.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("empty duration")
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return durations.parse_duration(raw, units=durations.NATSCLI_UNITS)
    except ValueError:
        raise ValueError(f"invalid duration {go_quote(text)}") from None


def parse_size(text: str) -> int:
    """Parse a byte size such as ``128``, ``128B``, ``1KB`` or ``2MiB`` into bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"invalid size {go_quote(text)}")
    shift = _SIZE_SHIFT.get(match.group(2).upper())
    if shift is None:
        raise ValueError(f"invalid size {go_quote(text)}")
    return int(float(match.group(1)) * (1 << shift))


def format_count(value: float) -> str:
    """Format a number thousands-separated like natscli (``1,234,567``)."""
    return f"{round(value):,}"


def format_size(num_bytes: float) -> str:
    """Format a byte count in binary units (``1.5 MiB``)."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024.0 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024.0
    raise AssertionError("unreachable")  # pragma: no cover


def format_duration(seconds: float) -> str:
    """Format a duration the way Go prints ``time.Duration`` (``1.234ms``, ``2m3s``)."""
    if seconds == 0:
        return "0s"
    neg = seconds < 0
    s = abs(seconds)
    if s < 1e-6:
        text = f"{s * 1e9:.0f}ns"
    elif s < 1e-3:
        text = f"{_trim(s * 1e6)}µs"
    elif s < 1:
        text = f"{_trim(s * 1e3)}ms"
    elif s < 60:
        text = f"{_trim(s)}s"
    else:
        hours, rem = divmod(s, 3600)
        minutes, secs = divmod(rem, 60)
        text = f"{int(minutes)}m{_trim(secs)}s"
        if hours:
            text = f"{int(hours)}h{text}"
    return f"-{text}" if neg else text


def _trim(value: float) -> str:
    """Print up to three decimals without trailing zeros (Go style)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"
