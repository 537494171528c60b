"""Decode a protocol line's JSON the way Go's ``encoding/json`` fills a typed struct.

nats-server unmarshals ``CONNECT`` and ``INFO`` into Go structs, so what it accepts is
Go's rule, not "any JSON object":

* the text must be valid JSON (no ``NaN``/``Infinity``); invalid UTF-8 inside a string is
  accepted and becomes U+FFFD, as does a lone surrogate escape;
* the top level is an object, or ``null`` (which changes nothing); anything else fails;
* keys match field names case-insensitively (``"VERBOSE"`` sets ``verbose``; Go also folds
  the long s, U+017F, to ``s`` and the Kelvin sign to ``k``); unknown keys are skipped;
  duplicates are decoded in order (the last wins); ``null`` leaves the field as it was;
* a value of the wrong JSON type for its field fails (``"verbose":1``, ``"name":5``,
  ``"protocol":"1"``), and so does a number an integer field cannot hold (``1.5``,
  ``1e2``, out of range).

A failure raises :class:`TypedJSONError`; nats-server then closes the connection without
a word.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BOOL",
    "BYTES",
    "INT",
    "INT32",
    "PERMISSION",
    "STR",
    "STRLIST",
    "UINT8",
    "UINT64",
    "TypedJSONError",
    "decode_struct",
]

#: Go field kinds.
BOOL, STR, INT, INT32, UINT8, UINT64, BYTES, STRLIST, PERMISSION = range(9)
_INT_RANGES = {
    INT: (-(1 << 63), (1 << 63) - 1),
    INT32: (-(1 << 31), (1 << 31) - 1),
    UINT8: (0, 255),
    UINT64: (0, (1 << 64) - 1),
}
#: ``*SubjectPermission``: ``{"allow": [...], "deny": [...]}``.
_PERMISSION_FIELDS = {"allow": STRLIST, "deny": STRLIST}


class TypedJSONError(ValueError):
    """The text is not JSON Go would decode into the struct."""


class _Object(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs in order (arrays stay plain lists)."""


class _Int(str):
    """An integer literal's text."""


class _Float(str):
    """A number literal with a fraction or an exponent."""


def _reject_constant(name: str) -> Any:
    raise TypedJSONError(f"invalid character in {name}")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_Object,
    parse_int=_Int,
    parse_float=_Float,
    parse_constant=_reject_constant,
    strict=True,
)


def _fold(key: str) -> str:
    """Go's case folding for field names (ASCII case, the long s and the Kelvin sign)."""
    if key.isascii():
        return key.lower()
    return key.replace("\u017f", "s").lower()


def _text(value: str) -> str:
    """A decoded string as Go has it: a lone surrogate becomes U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _check(kind: int, value: Any) -> Any:
    """``value`` decoded into a field of ``kind``; None for JSON null (no effect)."""
    if value is None:
        return None
    if kind == BOOL:
        if type(value) is bool:
            return value
    elif kind == STR:
        if type(value) is str:
            return _text(value)
    elif kind in _INT_RANGES:
        if type(value) is _Int:
            low, high = _INT_RANGES[kind]
            number = int(value)
            if low <= number <= high and not (low == 0 and value.startswith("-")):
                return number
    elif kind == STRLIST:
        if type(value) is list:
            items = []
            for item in value:
                if item is not None and type(item) is not str:
                    break
                items.append(_text(item) if item is not None else "")
            else:
                return items
    elif kind == BYTES:
        if type(value) is str:
            try:
                return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
            except (binascii.Error, ValueError):
                pass
        elif type(value) is list:
            return bytes(_check(UINT8, item) or 0 for item in value)
    elif kind == PERMISSION and type(value) is _Object:
        return _fields(value, _PERMISSION_FIELDS)
    raise TypedJSONError(f"cannot unmarshal {type(value).__name__} into a Go {kind} field")


def _fields(pairs: _Object, fields: Mapping[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        name = _fold(key)
        kind = fields.get(name)
        if kind is None:
            continue
        decoded = _check(kind, value)
        if decoded is not None:
            out[name] = decoded
    return out


def decode_struct(arg: bytes, fields: Mapping[str, int]) -> dict[str, Any]:
    """The fields ``arg`` sets (lower-case names, Python values); raise on what Go refuses.

    ``fields`` maps each field's JSON name (lower case) to its kind.  Fields absent from
    ``arg`` (or given as ``null``) are absent from the result.
    """
    try:
        tree = _DECODER.decode(arg.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as exc:
        raise TypedJSONError(str(exc)) from None
    if tree is None:
        return {}
    if type(tree) is not _Object:
        raise TypedJSONError("cannot unmarshal a non-object into a Go struct")
    return _fields(tree, fields)
