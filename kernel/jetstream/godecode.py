"""Decoding JSON requests into dataclasses with Go's ``encoding/json`` rules and errors.

Each dataclass field is declared with :func:`gofield` and the Go type it has in
nats-server (``INT64``, ``DURATION``, ``ListOf(STRING, "[]string")``, an :class:`Enum`
for Go types with their own unmarshaler...).  :func:`decode` then follows Go:

* keys match field names exactly, else case-insensitively; unknown keys are ignored;
* ``null`` leaves a value field as it is and clears a pointer, slice or map field;
* repeated keys: the last wins, but objects merge into a struct or map decoded before;
* numbers keep their literal text: ``1.0`` or ``1e3`` is no integer, ranges are Go's;
* the first error in document order is the one reported, in Go's words
  (``json: cannot unmarshal string into Go struct field StreamConfigRequest.max_msgs
  of type int64``);
* an empty body (or only whitespace) decodes to the zero value, and several
  concatenated documents decode one after the other (nats-server reads requests with
  a ``json.Decoder``).

The same field declarations drive the output side (:func:`natskern.kernel.jetstream.wire.to_wire`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Final

from natskern.kernel.jetstream.gojson import GoJSONError, Val, go_quote, parse, syntax_error
from natskern.kernel.jetstream.wire import parse_go_time

__all__ = [
    "BOOL",
    "DURATION",
    "INT",
    "INT32",
    "INT64",
    "STRING",
    "TIME",
    "UINT64",
    "Enum",
    "GoType",
    "Int",
    "ListOf",
    "MapOf",
    "Struct",
    "decode",
    "gofield",
]


# --------------------------------------------------------------------------- Go types


class GoType:
    """How one Go type decodes from JSON; ``name`` is the type as Go's errors print it."""

    name = "?"
    zero: Any = None

    def is_zero(self, value: Any) -> bool:
        """Go's ``omitempty`` test for a value of this type."""
        return value == self.zero

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        """The decoded value of ``v`` (``current`` is the field's value so far)."""
        raise NotImplementedError

    def mismatch(self, what: str, root: str, path: list[Any]) -> GoJSONError:
        """Go's ``UnmarshalTypeError`` for ``what`` (``string``, ``number 1.5``, ...) here."""
        if not path:
            return GoJSONError(f"json: cannot unmarshal {what} into Go value of type {self.name}")
        where = ".".join(str(p) for p in path)
        into = "" if isinstance(path[-1], int) else "Go struct field "
        return GoJSONError(
            f"json: cannot unmarshal {what} into {into}{root}.{where} of type {self.name}"
        )


class _String(GoType):
    name = "string"
    zero = ""

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "string":
            return v.value
        if v.kind == "null":
            return current
        raise self.mismatch(v.kind, root, path)


class _Bool(GoType):
    name = "bool"
    zero = False

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "bool":
            return v.value
        if v.kind == "null":
            return current
        raise self.mismatch(v.kind, root, path)


_INTEGER: Final = re.compile(r"-?[0-9]+")


class Int(GoType):
    """A Go integer type with its range (``int64``, ``uint64``, ``time.Duration``...)."""

    zero = 0

    def __init__(self, name: str, lo: int, hi: int) -> None:
        self.name = name
        self.lo = lo
        self.hi = hi

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "number":
            if _INTEGER.fullmatch(v.raw) and self.lo <= int(v.raw) <= self.hi:
                return int(v.raw)
            raise self.mismatch("number " + v.raw, root, path)
        if v.kind == "null":
            return current
        raise self.mismatch(v.kind, root, path)


class _Time(GoType):
    """``*time.Time``: an RFC 3339 string, kept as the text Go would print back."""

    name = "time.Time"

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "null":
            return None
        if v.kind != "string":
            raise self.mismatch(v.kind, root, path)
        return parse_go_time(v.value)


class Enum(GoType):
    """A Go type with its own ``UnmarshalJSON`` taking a few words.

    ``words`` maps the accepted raw JSON text (quotes included) to the value; with
    ``lower`` the raw text is lower-cased first; with ``decoded`` the value is first
    decoded as a Go string.  Anything else fails with ``error`` (``{q}`` is the Go-quoted
    raw text); ``null`` is handed to the unmarshaler too, as Go does.
    """

    def __init__(
        self,
        words: dict[str, str],
        zero: str,
        *,
        lower: bool = False,
        decoded: bool = False,
        error: str = "can not unmarshal {q}",
    ) -> None:
        self.words = words
        self.zero = zero
        self.lower = lower
        self.decoded = decoded
        self.error = error

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if self.decoded:
            if v.kind not in ("string", "null"):
                raise GoJSONError(f"json: cannot unmarshal {v.kind} into Go value of type string")
            key = v.value or ""
        else:
            key = v.raw.lower() if self.lower else v.raw
        if key in self.words:
            return self.words[key]
        raise GoJSONError(self.error.format(q=go_quote(v.raw)))


class ListOf(GoType):
    """A Go slice; decoding replaces the slice (Go reuses nothing of the old one)."""

    def __init__(self, elem: GoType, name: str) -> None:
        self.elem = elem
        self.name = name

    def is_zero(self, value: Any) -> bool:
        return not value

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "array":
            zero = self.elem.zero
            return [self.elem.decode(x, root, [*path, i], zero) for i, x in enumerate(v.value)]
        if v.kind == "null":
            return []
        raise self.mismatch(v.kind, root, path)


class MapOf(GoType):
    """A Go ``map[string]T``; decoding merges into the map decoded so far."""

    def __init__(self, elem: GoType, name: str) -> None:
        self.elem = elem
        self.name = name

    def is_zero(self, value: Any) -> bool:
        return not value

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "object":
            out = dict(current or {})
            for key, x in v.value:
                out[key] = self.elem.decode(x, root, [*path, key], out.get(key, self.elem.zero))
            return out
        if v.kind == "null":
            return {}
        raise self.mismatch(v.kind, root, path)


class Struct(GoType):
    """A Go struct mapped onto a dataclass whose fields were declared with :func:`gofield`.

    ``pointer``: the field is ``*T`` (``null`` clears it, omitempty omits ``None``).
    """

    def __init__(self, cls: type, name: str, *, pointer: bool = False) -> None:
        self.cls = cls
        self.name = name
        self.pointer = pointer
        self._fields: dict[str, tuple[str, GoType]] | None = None
        self._folded: dict[str, tuple[str, GoType]] = {}

    def is_zero(self, value: Any) -> bool:
        return value is None if self.pointer else False

    def fields(self) -> dict[str, tuple[str, GoType]]:
        """``{json name: (attribute, GoType)}`` in declaration order."""
        if self._fields is None:
            found = {f.name: (f.name, f.metadata["go"]) for f in dataclasses.fields(self.cls)}
            self._folded = {k.lower(): e for k, e in reversed(found.items())}
            self._fields = found
        return self._fields

    def decode(self, v: Val, root: str, path: list[Any], current: Any) -> Any:
        if v.kind == "null":
            return None if self.pointer else current
        if v.kind != "object":
            raise self.mismatch(v.kind, root, path)
        fields = self.fields()
        out = dataclasses.replace(current) if current is not None else self.cls()
        for key, x in v.value:
            entry = fields.get(key) or self._folded.get(key.lower())
            if entry is None:
                continue
            attr, gotype = entry
            setattr(out, attr, gotype.decode(x, root, [*path, attr], getattr(out, attr)))
        return out

    def unknown(self, v: Val) -> bool:
        """True if the object ``v`` (or one nested in it) has a key no field takes."""
        fields = self.fields()
        for key, x in v.value:
            entry = fields.get(key) or self._folded.get(key.lower())
            if entry is None:
                return True
            sub = entry[1]
            while isinstance(sub, ListOf | MapOf):
                sub = sub.elem
            if isinstance(sub, Struct) and x.kind == "object" and sub.unknown(x):
                return True
            if (
                isinstance(sub, Struct)
                and x.kind == "array"
                and any(i.kind == "object" and sub.unknown(i) for i in x.value)
            ):
                return True
        return False


STRING: Final = _String()
BOOL: Final = _Bool()
INT: Final = Int("int", -(2**63), 2**63 - 1)
INT64: Final = Int("int64", -(2**63), 2**63 - 1)
INT32: Final = Int("int32", -(2**31), 2**31 - 1)
UINT64: Final = Int("uint64", 0, 2**64 - 1)
DURATION: Final = Int("time.Duration", -(2**63), 2**63 - 1)
TIME: Final = _Time()


def gofield(
    gotype: GoType,
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | Any = dataclasses.MISSING,
    omitempty: bool = False,
) -> Any:
    """A dataclass field that decodes as ``gotype`` and is omitted when empty if ``omitempty``."""
    meta = {"go": gotype, "omitempty": omitempty}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def decode(data: bytes | str, gotype: Struct, root: str) -> Any:
    """Decode a request body into ``gotype``'s dataclass as nats-server's decoder would.

    ``root`` is the Go type's short name used in error paths (``StreamConfigRequest``).
    Raises :class:`GoJSONError` with Go's text.
    """
    values = parse(data)
    out = gotype.cls()
    top = Struct(gotype.cls, "server." + root)
    top._fields, top._folded = gotype.fields(), gotype._folded
    try:
        for v in values:
            out = top.decode(v, root, [], out) if v.kind != "null" else out
            if len(values) > 1 and v.kind == "object" and gotype.unknown(v):
                raise GoJSONError("unknown field")
    except GoJSONError:
        if len(values) > 1:
            # Several documents only pass a strict decoder; the lenient retry fails on
            # whatever follows the first one.
            raw = data if isinstance(data, bytes) else data.encode()
            raise GoJSONError(syntax_error(raw) or "unexpected end of JSON input") from None
        raise
    return out
