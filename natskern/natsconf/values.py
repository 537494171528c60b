"""Value conversions nats-server applies to config values: durations, sizes, addresses, nkeys."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from natskern.kernel import durations

__all__ = [
    "describe",
    "is_public_nkey",
    "parse_go_duration",
    "parse_storage_size",
    "split_host_port",
]


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.ParseDuration`` string (``"2m"``, ``"1h30m"``, ``"500ms"``).

    nats-server's config semantics: only a string is a duration, and it needs a unit
    (``"2"`` is refused; an unquoted ``2m`` never gets here, the lexer makes it a number).
    Raises ``ValueError`` with Go's message (``time: missing unit in duration "2"``).
    """
    return durations.parse_duration(text)


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
