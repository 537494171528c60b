"""Go duration strings (``"2m"``, ``"1h30m"``, ``"500ms"``), parsed like ``time.ParseDuration``.

The one parser behind every duration natskern reads: nats-server's config values
(:mod:`natskern.natsconf`), the CLI's flags (which add natscli's ``d`` and ``w`` units
through ``units=``) and, later, JetStream's configs (whose wire durations are
nanoseconds: :func:`parse_duration_ns`).  What a *bare number* means is the caller's
business (seconds on the command line; a missing unit in nats-server's config), so
this module accepts only what Go does: ``[-+]?([0-9]*(\\.[0-9]*)?[a-zµμ]+)+`` or ``0``.

Errors are :class:`ValueError` with Go's own messages
(``time: missing unit in duration "2"``), which nats-server shows its users verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["GO_UNITS", "NATSCLI_UNITS", "parse_duration", "parse_duration_ns"]

_US: Final = 1_000
_MS: Final = 1_000_000
_S: Final = 1_000_000_000

#: Go's ``time.ParseDuration`` units, in nanoseconds.
GO_UNITS: Final[Mapping[str, int]] = {
    "ns": 1,
    "us": _US,
    "µs": _US,  # U+00B5 micro sign
    "μs": _US,  # U+03BC Greek mu
    "ms": _MS,
    "s": _S,
    "m": 60 * _S,
    "h": 3600 * _S,
}

#: Go's units plus the days and weeks natscli accepts on its command line.
NATSCLI_UNITS: Final[Mapping[str, int]] = {**GO_UNITS, "d": 86400 * _S, "w": 7 * 86400 * _S}

_MAX: Final = (1 << 63) - 1  # a Go time.Duration is an int64 of nanoseconds
_DIGITS: Final = frozenset("0123456789")


def _leading_int(text: str, pos: int) -> tuple[int, int]:
    """Go ``leadingInt``: the value of the digits at ``pos`` and the end offset (-1: overflow)."""
    end = pos
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    value = int(text[pos:end]) if end > pos else 0
    return (value, end) if value <= 1 << 63 else (-1, end)


def _leading_fraction(text: str, pos: int) -> tuple[int, float, int]:
    """Go ``leadingFraction``: the digits after the point as (value, scale, end offset)."""
    value = 0
    scale = 1.0
    overflow = False
    end = pos
    while end < len(text) and text[end] in _DIGITS:
        if not overflow:
            if value > _MAX // 10:
                overflow = True
            else:
                value = value * 10 + ord(text[end]) - 48
                scale *= 10
        end += 1
    return value, scale, end


def parse_duration_ns(text: str, *, units: Mapping[str, int] = GO_UNITS) -> int:
    """Nanoseconds in the Go duration ``text`` (``"1m30s"`` -> 90_000_000_000).

    ``units`` maps each accepted unit to its length in nanoseconds (:data:`GO_UNITS`
    unless given).  Fractions are truncated to whole nanoseconds like Go does; the
    result fits Go's int64.  Raises :class:`ValueError` with Go's message.
    """
    invalid = f'time: invalid duration "{text}"'
    pos = 0
    n = len(text)
    negative = False
    if n and text[0] in "+-":
        negative = text[0] == "-"
        pos = 1
    if text[pos:] == "0":
        return 0
    if pos == n:
        raise ValueError(invalid)
    total = 0
    while pos < n:
        if text[pos] != "." and text[pos] not in _DIGITS:
            raise ValueError(invalid)
        value, end = _leading_int(text, pos)
        if value < 0:
            raise ValueError(invalid)
        pre = end != pos
        pos = end
        fraction, scale, post = 0, 1.0, False
        if pos < n and text[pos] == ".":
            fraction, scale, end = _leading_fraction(text, pos + 1)
            post = end != pos + 1
            pos = end
        if not pre and not post:
            raise ValueError(invalid)
        end = pos
        while end < n and text[end] != "." and text[end] not in _DIGITS:
            end += 1
        if end == pos:
            raise ValueError(f'time: missing unit in duration "{text}"')
        unit = text[pos:end]
        pos = end
        size = units.get(unit)
        if size is None:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        if value > (1 << 63) // size:
            raise ValueError(invalid)
        value *= size
        if fraction > 0:
            value += int(float(fraction) * (float(size) / scale))
        total += value
        if total > 1 << 63:
            raise ValueError(invalid)
    if negative:
        return -total
    if total > _MAX:
        raise ValueError(invalid)
    return total


def parse_duration(text: str, *, units: Mapping[str, int] = GO_UNITS) -> float:
    """Seconds in the Go duration ``text`` (``"500ms"`` -> 0.5); see :func:`parse_duration_ns`."""
    return parse_duration_ns(text, units=units) / _S
