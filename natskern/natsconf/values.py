"""Value conversions nats-server applies to config values: durations, sizes, addresses, nkeys."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

__all__ = [
    "describe",
    "is_public_nkey",
    "parse_go_duration",
    "parse_storage_size",
    "split_host_port",
]

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_NUMBER = re.compile(r"(\d*)(\.\d*)?")
_DURATION_UNIT = re.compile(r"[^\d.]*")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.ParseDuration`` string (``"2m"``, ``"1h30m"``, ``"500ms"``).

    Raises ``ValueError`` with Go's message (``time: missing unit in duration "2"``).
    """
    rest = text
    sign = 1.0
    if rest[:1] in ("+", "-"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0.0
    while rest:
        number = _DURATION_NUMBER.match(rest)
        assert number is not None  # the pattern can match the empty string
        whole, frac = number.group(1), number.group(2) or ""
        if not whole and len(frac) <= 1:
            raise ValueError(f'time: invalid duration "{text}"')
        rest = rest[number.end() :]
        unit_match = _DURATION_UNIT.match(rest)
        unit = unit_match.group(0) if unit_match else ""
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        rest = rest[len(unit) :]
        total += float((whole or "0") + frac) * _DURATION_UNITS[unit]
    return sign * total


_STORAGE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_storage_size(value: str) -> int:
    """Bytes in a JetStream storage size string: digits and one of ``K M G T`` (binary).

    ``"1G"`` is 2**30 bytes.  Raises ``ValueError`` for anything else (``"1GB"``, ``"1g"``).
    """
    unit = value[-1:]
    if unit not in _STORAGE_UNITS:
        raise ValueError("sizes defined as strings must end in K, M, G, T")
    digits = value[:-1]
    if not re.fullmatch(r"-?\d+", digits):
        raise ValueError(f"cannot parse {digits!r} as an integer")
    return int(digits) * _STORAGE_UNITS[unit]


def split_host_port(value: str) -> tuple[str, int]:
    """Split ``host:port`` like Go's ``net.SplitHostPort`` (``[::1]:4222`` for IPv6).

    Raises ``ValueError`` when there is no port or the port is not a number.
    """
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or value[end + 1 : end + 2] != ":":
            raise ValueError(f"could not parse address string {json.dumps(value)}")
        host, port = value[1:end], value[end + 2 :]
    else:
        if value.count(":") != 1:
            raise ValueError(f"could not parse address string {json.dumps(value)}")
        host, port = value.split(":")
    if not re.fullmatch(r"[+-]?\d+", port):
        raise ValueError(f"could not parse port {json.dumps(port)}")
    return host, int(port)


def is_public_nkey(key: str, prefix: str) -> bool:
    """Whether ``key`` is a well-formed public nkey whose first letter is ``prefix``.

    ``prefix`` is ``"U"`` for users, ``"A"`` for accounts (checks base32, length, CRC).
    """
    if not key.startswith(prefix):
        return False
    try:
        raw = base64.b32decode(key + "=" * (-len(key) % 8))
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 35:
        return False
    import nkeys  # imports libsodium bindings: only when a config has nkeys

    return bool(nkeys.crc16_checksum(raw[:-2]) == raw[-2:])


def describe(value: Any) -> str:
    """A config value as error messages show it: ``"abc"``, ``12``, ``true``, ``a map``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime):
        return f"the date {value.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    return repr(value)
