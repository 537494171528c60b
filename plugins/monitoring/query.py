"""Query-string decoding with nats-server's rules and error texts (Go ``strconv``)."""

from __future__ import annotations

import re

from natskern.plugins.monitoring.http import HttpError, Request

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}
_INT = re.compile(r"^[+-]?[0-9]+$")
_UINT = re.compile(r"^[0-9]+$")
_INT_MAX = 2**63 - 1


def decode_bool(request: Request, name: str) -> bool:
    """Go's ``strconv.ParseBool`` on parameter ``name`` (absent or empty: False)."""
    value = request.arg(name)
    if value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise HttpError(
        400,
        f"Error decoding boolean for '{name}': strconv.ParseBool: parsing {_quote(value)}: "
        "invalid syntax",
    )


def decode_int(request: Request, name: str) -> int:
    """Go's ``strconv.Atoi`` on parameter ``name`` (absent or empty: 0)."""
    value = request.arg(name)
    if value == "":
        return 0
    if not _INT.match(value):
        raise HttpError(
            400,
            f"Error decoding int for '{name}': strconv.Atoi: parsing {_quote(value)}: "
            "invalid syntax",
        )
    number = int(value)
    if abs(number) > _INT_MAX:
        raise HttpError(
            400,
            f"Error decoding int for '{name}': strconv.Atoi: parsing {_quote(value)}: "
            "value out of range",
        )
    return number


def decode_uint(request: Request, name: str) -> int:
    """Go's ``strconv.ParseUint(v, 10, 64)`` on parameter ``name`` (absent or empty: 0)."""
    value = request.arg(name)
    if value == "":
        return 0
    if not _UINT.match(value):
        raise HttpError(
            400,
            f"Error decoding uint64 for '{name}': strconv.ParseUint: parsing {_quote(value)}: "
            "invalid syntax",
        )
    number = int(value)
    if number >= 2**64:
        raise HttpError(
            400,
            f"Error decoding uint64 for '{name}': strconv.ParseUint: parsing {_quote(value)}: "
            "value out of range",
        )
    return number


def decode_subs(request: Request, name: str = "subs") -> tuple[bool, bool]:
    """``subs=detail`` or a boolean: (list subscriptions, with detail)."""
    if request.arg(name) == "detail":
        return True, True
    return decode_bool(request, name), False


def _quote(value: str) -> str:
    """Go's ``%q`` for the common cases (printable text)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
