"""Go-compatible renderings for monitoring JSON: times, durations, numbers, indentation.

nats-server marshals its monitoring structs with Go's ``encoding/json``: times as
RFC 3339 with nanoseconds (trailing zeros trimmed), ``time.Duration`` fields as
integer nanoseconds, ``uptime``/``idle`` in its own ``1d2h3m4s`` style, ``rtt`` as
Go's ``Duration.String()``, whole floats without a fraction, and two-space
indentation.  Clients and dashboards parse these strings, so they must match.
"""

from __future__ import annotations

import json
import time
from typing import Any

_NS = 1_000_000_000


def rfc3339(ts: float) -> str:
    """A Unix timestamp as Go's ``time.RFC3339Nano`` in UTC (``2024-01-02T03:04:05.5Z``).

    Rounded to microseconds: that is all the precision a float timestamp holds.
    """
    ns = round(ts * 1_000_000) * 1_000
    secs, frac = divmod(ns, _NS)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def uptime(seconds: float) -> str:
    """nats-server's ``myUptime``: whole seconds as ``1y2d3h4m5s`` without leading zero units."""
    tsecs = max(int(seconds), 0)
    tmins, thrs = tsecs // 60, tsecs // 3600
    tdays = thrs // 24
    tyrs = tdays // 365
    if tyrs:
        return f"{tyrs}y{tdays % 365}d{thrs % 24}h{tmins % 60}m{tsecs % 60}s"
    if tdays:
        return f"{tdays}d{thrs % 24}h{tmins % 60}m{tsecs % 60}s"
    if thrs:
        return f"{thrs}h{tmins % 60}m{tsecs % 60}s"
    if tmins:
        return f"{tmins}m{tsecs % 60}s"
    return f"{tsecs}s"


def _fraction(value: int, unit: int) -> str:
    """``value / unit`` printed like Go: integer part, then a trimmed fraction if any."""
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for a duration in nanoseconds."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1_000)}µs"
    if ns < _NS:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * _NS)
    minutes, rest = divmod(rest, 60 * _NS)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{_fraction(rest, _NS)}s"


def rtt(seconds: float) -> str:
    """A client's round-trip time as nats-server shows it (µs-truncated below 1ms)."""
    ns = int(seconds * _NS)
    if 1_000 < ns < 1_000_000:
        ns -= ns % 1_000
    return go_duration(ns)


def nanos(seconds: float) -> int:
    """Seconds as integer nanoseconds (Go ``time.Duration`` JSON)."""
    return round(seconds * _NS)


def number(value: float) -> int | float:
    """A float as Go prints it: whole values without a fraction (``2``, not ``2.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def dumps(obj: Any, *, indent: bool = True) -> bytes:
    """JSON like Go's ``MarshalIndent(v, "", "  ")`` (or compact), UTF-8, ``<>&`` escaped."""
    text = json.dumps(
        obj,
        indent=2 if indent else None,
        ensure_ascii=False,
        separators=None if indent else (",", ":"),
    )
    # Go escapes these for safe embedding in HTML.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()
