"""JetStream wire helpers: Go times and durations, ``omitempty`` output, API responses.

* Durations on the wire are int64 nanoseconds; :func:`go_duration` prints one the way
  Go's ``time.Duration.String`` does (``15m0s``, ``1.5s``), for texts nats-server builds
  with ``%v`` (error descriptions, the ``Nats-TTL`` header of delete markers).
  Parsing Go duration strings is :func:`natskern.kernel.durations.parse_duration_ns`.
* Times are RFC 3339 in UTC with a nanosecond fraction, trailing zeros trimmed, as Go's
  ``time.Time`` marshals: :func:`format_time` (``0`` is Go's zero time
  ``0001-01-01T00:00:00Z``), :func:`parse_go_time` / :func:`time_ns` for times in requests.
* :func:`to_wire` turns a dataclass declared with :func:`~.godecode.gofield`
  into the dict Go's ``encoding/json`` would produce (field order, ``omitempty``), and
  :func:`dumps` into Go's bytes (compact, ``<``, ``>``, ``&`` escaped).
* :func:`response` builds an API response with its ``type`` and, for a failure, ``error``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import re
from typing import Any, Final

from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.gojson import GoJSONError, go_quote

__all__ = [
    "API_TYPE_PREFIX",
    "ZERO_TIME",
    "dumps",
    "format_time",
    "go_duration",
    "parse_go_time",
    "response",
    "time_ns",
    "to_wire",
]

API_TYPE_PREFIX: Final = "io.nats.jetstream.api.v1."
"""Prefix of every API response's ``type`` (``...stream_create_response``)."""

ZERO_TIME: Final = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time`` as JSON (an empty stream's ``first_ts``)."""

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_RFC3339: Final = "2006-01-02T15:04:05Z07:00"


# --------------------------------------------------------------------------- durations


def _fmt_frac(value: int, prec: int) -> tuple[str, int]:
    """Go ``fmtFrac``: the fraction digits of ``value`` at ``prec`` places, trailing zeros cut."""
    digits = []
    printed = False
    for _ in range(prec):
        d = value % 10
        printed = printed or d != 0
        if printed:
            digits.append(str(d))
        value //= 10
    frac = "".join(reversed(digits))
    return ("." + frac if frac else ""), value


def go_duration(ns: int) -> str:
    """``time.Duration(ns).String()``: ``0s``, ``1.5µs``, ``100ms``, ``2m0s``, ``1h0m0s``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _fmt_frac(u, 3)
            return f"{sign}{whole}{frac}µs"
        frac, whole = _fmt_frac(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, secs = _fmt_frac(u, 9)
    out = f"{secs % 60}{frac}s"
    mins = secs // 60
    if mins:
        out = f"{mins % 60}m" + out
        hours = mins // 60
        if hours:
            out = f"{hours}h" + out
    return sign + out


# --------------------------------------------------------------------------- times


@functools.lru_cache(maxsize=1024)
def _second_text(secs: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a second since the epoch (cached: times come in runs)."""
    return (_EPOCH + _dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")


def format_time(ns: int) -> str:
    """Go's RFC 3339 text of a UTC time in ns since the epoch; ``0`` is the zero time."""
    if ns == 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = _second_text(secs)
    if frac:
        stamp += ("." + f"{frac:09d}").rstrip("0")
    return stamp + "Z"


_TIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([.,]\d+)?(Z|[+-]\d{2}:\d{2})\Z"
)
_LAYOUT: Final = (
    ("2006", 4),
    ("-", 0),
    ("01", 2),
    ("-", 0),
    ("02", 2),
    ("T", 0),
    ("15", 2),
    (":", 0),
    ("04", 2),
    (":", 0),
    ("05", 2),
)
_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _time_error(text: str) -> str:
    """Go's ``time.Parse(time.RFC3339, text)`` error for a text :data:`_TIME` rejected."""
    head = f"parsing time {go_quote(text)}"

    def cannot(rest: str, elem: str) -> str:
        return f"{head} as {go_quote(_RFC3339)}: cannot parse {go_quote(rest)} as {go_quote(elem)}"

    rest = text
    for elem, width in _LAYOUT:
        if width == 0:
            if not rest.startswith(elem):
                return cannot(rest, elem)
            rest = rest[1:]
            continue
        fixed = elem != "15"
        n = 0
        while n < len(rest) and n < width and rest[n].isdigit():
            n += 1
        if n < (width if fixed else 1):
            return cannot(rest, elem)
        rest = rest[n:]
    if rest[:1] in (".", ",") and rest[1:2].isdigit():
        rest = rest[1:].lstrip("0123456789")
    if rest.startswith("Z"):
        rest = rest[1:]
    elif (
        len(rest) >= 6
        and rest[0] in "+-"
        and rest[1:3].isdigit()
        and rest[3] == ":"
        and rest[4:6].isdigit()
    ):
        rest = rest[6:]
    else:
        return cannot(rest, "Z07:00")
    if rest:
        return f"{head}: extra text: {go_quote(rest)}"
    return f"{head}: out of range"


def parse_go_time(text: str) -> str:
    """Check an RFC 3339 time from a request; return it as Go prints it back.

    Go keeps the offset (``+02:00``) and prints ``Z`` for a zero one, with the fraction's
    trailing zeros cut.  Raises :class:`GoJSONError` with Go's parse error.
    """
    m = _TIME.match(text)
    if m is None:
        raise GoJSONError(_time_error(text))
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    head = f"parsing time {go_quote(text)}"
    for value, top, what in ((month, 12, "month"), (hour, 23, "hour"), (minute, 59, "minute")):
        if not (value <= top and (value >= 1 or what != "month")):
            raise GoJSONError(f"{head}: {what} out of range")
    if second > 59:
        raise GoJSONError(f"{head}: second out of range")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day < 1 or day > _DAYS[month - 1] or (month == 2 and day == 29 and not leap):
        raise GoJSONError(f"{head}: day out of range")
    frac = (m.group(7) or "")[1:10].rstrip("0")
    zone = m.group(8)
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return text[:19] + ("." + frac if frac else "") + zone


def time_ns(text: str) -> int:
    """Nanoseconds since the epoch of a time :func:`parse_go_time` returned."""
    m = _TIME.match(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    zone = m.group(8)
    offset = (
        0 if zone == "Z" else (int(zone[1:3]) * 60 + int(zone[4:6])) * (-1 if zone[0] == "-" else 1)
    )
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    base = _dt.datetime(y, mo, d, h, mi, sec, tzinfo=_dt.UTC)
    secs = int((base - _EPOCH).total_seconds()) - offset * 60
    frac = ((m.group(7) or ".")[1:10]).ljust(9, "0")
    return secs * 1_000_000_000 + int(frac)


# --------------------------------------------------------------------------- output


def to_wire(obj: Any) -> Any:
    """The JSON value Go's ``encoding/json`` makes of ``obj`` (dataclasses via ``gofield``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            meta = f.metadata
            if meta.get("omitempty") and meta["go"].is_zero(value):
                continue
            out[f.name] = to_wire(value)
        return out
    if isinstance(obj, list | tuple):
        return [to_wire(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_wire(v) for k, v in sorted(obj.items())}  # Go sorts map keys
    return obj


def dumps(value: Any) -> bytes:
    """Go's compact JSON bytes for ``value`` (as :func:`to_wire` ordered it)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if "<" in text or ">" in text or "&" in text:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def response(
    kind: str, body: dict[str, Any] | None = None, error: ApiError | None = None
) -> dict[str, Any]:
    """An API response: ``{"type": "io.nats.jetstream.api.v1.<kind>", ...}``.

    With ``error``, the success fields are left out (as nats-server's omitempty does)
    except those in ``body`` that its response struct always sends (paging fields).
    """
    out: dict[str, Any] = {"type": API_TYPE_PREFIX + kind}
    if error is not None:
        out["error"] = error.to_json()
    if body:
        out.update(body)
    return out
