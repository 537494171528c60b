"""JSON parsing that fails the way Go's ``encoding/json`` does.

nats-server answers a request it cannot decode with ``10025 invalid JSON: <Go's error text>``
(``invalid character 'x' looking for beginning of value``, ``unexpected end of JSON
input``).  :func:`parse` turns a body into :class:`Val` trees that keep each value's Go
kind and raw text (Go's unmarshalers quote the raw text in their errors);
:mod:`natskern.kernel.jetstream.godecode` decodes those into dataclasses.

The fast path is one regular-expression tokenizer; Go's byte-level scanner
(:func:`syntax_error`) only runs to word the error of an input that failed.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

__all__ = ["GoJSONError", "Val", "go_quote", "parse", "syntax_error"]


class GoJSONError(ValueError):
    """The request is not decodable; ``str()`` is Go's error text."""


@dataclasses.dataclass(slots=True)
class Val:
    """One parsed JSON value: its Go ``kind`` name, Python value and raw source text."""

    kind: str  # "string" | "number" | "bool" | "null" | "object" | "array"
    value: Any  # str | number literal | bool | None | list[tuple[str, Val]] | list[Val]
    raw: str


# --------------------------------------------------------------------------- parsing

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESC = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


class _Bad(Exception):
    """Internal: the fast parser gave up; Go's scanner words the error."""


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body

    def esc(m: re.Match[str]) -> str:
        e = m.group(1)
        return chr(int(e[1:], 16)) if e[0] == "u" and len(e) == 5 else _ESCAPES[e]

    out = _ESC.sub(esc, body)
    # Join surrogate pairs as Go does; a lone surrogate becomes U+FFFD.
    return out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _value(text: str, pos: int, depth: int) -> tuple[Val, int]:
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos >= len(text):
        raise _Bad
    c = text[pos]
    if c == "{":
        pairs: list[tuple[str, Val]] = []
        start = pos
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith("}", pos):
            return Val("object", pairs, text[start : pos + 1]), pos + 1
        while True:
            m = _STRING.match(text, pos)
            if m is None:
                raise _Bad
            key = _unquote(m.group())
            pos = _WS.match(text, m.end()).end()  # type: ignore[union-attr]
            if not text.startswith(":", pos):
                raise _Bad
            val, pos = _value(text, pos + 1, depth + 1)
            pairs.append((key, val))
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if text.startswith("}", pos):
                return Val("object", pairs, text[start : pos + 1]), pos + 1
            raise _Bad
    if c == "[":
        items: list[Val] = []
        start = pos
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith("]", pos):
            return Val("array", items, text[start : pos + 1]), pos + 1
        while True:
            val, pos = _value(text, pos, depth + 1)
            items.append(val)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos += 1
                continue
            if text.startswith("]", pos):
                return Val("array", items, text[start : pos + 1]), pos + 1
            raise _Bad
    if c == '"':
        m = _STRING.match(text, pos)
        if m is None:
            raise _Bad
        return Val("string", _unquote(m.group()), m.group()), m.end()
    for word, kind, value in (("true", "bool", True), ("false", "bool", False)):
        if text.startswith(word, pos):
            return Val(kind, value, word), pos + len(word)
    if text.startswith("null", pos):
        return Val("null", None, "null"), pos + 4
    m = _NUMBER.match(text, pos)
    if m is None:
        raise _Bad
    return Val("number", m.group(), m.group()), m.end()


def parse(data: bytes | str) -> list[Val]:
    """The top-level values of ``data`` in order (none for an empty body).

    Raises :class:`GoJSONError` with Go's text for a syntax error.  Several values are
    returned when documents are concatenated (a ``json.Decoder`` reads them in turn).
    """
    raw = data if isinstance(data, bytes) else data.encode()
    text = raw.decode("utf-8", "replace")
    values: list[Val] = []
    pos = 0
    try:
        while True:
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if pos >= len(text):
                return values
            val, pos = _value(text, pos, 0)
            values.append(val)
    except (_Bad, RecursionError):
        pass
    # Go's json.Unmarshal checks the whole input first: report where its scanner stops.
    # Only the first value counts for it (later ones fail "after top-level value").
    message = syntax_error(raw)
    raise GoJSONError(message or "unexpected end of JSON input")


# --------------------------------------------------------------------------- Go's scanner


_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: double-quoted, with Go's escapes for non-printable runes."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _SHORT:
            out.append(_SHORT[ch])
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _quote_char(data: bytes, at: int) -> str:
    """Go's ``quoteChar`` of the character (a whole UTF-8 rune) starting at ``data[at]``."""
    c = data[at]
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    ch = data[at : at + 4].decode("utf-8", "replace")[0] if c >= 0x80 else chr(c)
    return "'" + go_quote(ch)[1:-1] + "'"


_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_SPACE = frozenset(b" \t\r\n")


def syntax_error(data: bytes) -> str | None:
    """The error Go's ``json.Unmarshal`` gives for ``data``'s syntax, or None if it is valid.

    The texts are those of nats-server 2.15.1's Go (``encoding/json`` over the v2
    implementation): ``invalid escape sequence `\\q` in string``, every number error
    ``in numeric literal``, ``unexpected end of JSON input`` for any truncation.
    """
    stack: list[str] = []  # "key" (parsing an object key), "val" (object value), "arr"
    state = "begin"
    lit = b""
    i = 0
    n = len(data)

    def bad(c: int, context: str) -> str:
        return f"invalid character {_quote_char(data, i - 1)} {context}"

    def bad_escape(length: int) -> str:
        seq = data[esc_at : esc_at + length].decode("utf-8", "replace")
        return f"invalid escape sequence `{seq}` in string"

    esc_at = 0
    while True:
        if i >= n:
            if not stack and state in ("end", "end_top", "num", "num0", "dot0", "exp0"):
                return None
            return "unexpected end of JSON input"
        c = data[i]
        i += 1
        if state in ("begin", "begin_or_close"):
            if c in _SPACE:
                continue
            if state == "begin_or_close" and c == 0x5D:
                stack.pop()
                state = "end"
                continue
            if c == 0x7B:
                stack.append("key")
                state = "key_or_close"
            elif c == 0x5B:
                stack.append("arr")
                state = "begin_or_close"
            elif c == 0x22:
                state = "str"
            elif c == 0x2D:
                state = "neg"
            elif c == 0x30:
                state = "num0"
            elif 0x31 <= c <= 0x39:
                state = "num"
            elif c in (0x74, 0x66, 0x6E):
                lit = {0x74: b"true", 0x66: b"false", 0x6E: b"null"}[c]
                state = "lit1"
            else:
                return bad(c, "looking for beginning of value")
            continue
        if state in ("key_or_close", "key"):
            if c in _SPACE:
                continue
            if state == "key_or_close" and c == 0x7D:
                stack.pop()
                state = "end"
                continue
            if c == 0x22:
                state = "str"
                continue
            return bad(c, "looking for beginning of object key string")
        if state == "str":
            if c == 0x22:
                state = "end"
            elif c == 0x5C:
                state = "esc"
                esc_at = i - 1
            elif c < 0x20:
                return bad(c, "in string")
            continue
        if state == "esc":
            if c in b'bfnrt\\/"':
                state = "str"
            elif c == 0x75:
                state = "u0"
            else:
                return bad_escape(2)
            continue
        if state in ("u0", "u1", "u2", "u3"):
            if c not in _HEX:
                return bad_escape(6)
            state = "str" if state == "u3" else "u" + str(int(state[1]) + 1)
            continue
        if state.startswith("lit"):
            k = int(state[3:])
            if c != lit[k]:
                word = lit.decode()
                expecting = _quote_char(lit, k)
                return bad(c, f"in literal {word} (expecting {expecting})")
            state = "end" if k + 1 == len(lit) else f"lit{k + 1}"
            continue
        if state == "neg":
            if c == 0x30:
                state = "num0"
            elif 0x31 <= c <= 0x39:
                state = "num"
            else:
                return bad(c, "in numeric literal")
            continue
        if state == "num" and c in _DIGITS:
            continue
        if state in ("num", "num0"):
            if c == 0x2E:
                state = "dot"
                continue
            if c in (0x65, 0x45):
                state = "exp"
                continue
            state = "end"
        elif state == "dot":
            if c in _DIGITS:
                state = "dot0"
                continue
            return bad(c, "in numeric literal")
        elif state == "dot0":
            if c in _DIGITS:
                continue
            if c in (0x65, 0x45):
                state = "exp"
                continue
            state = "end"
        elif state in ("exp", "exp_sign"):
            if state == "exp" and c in (0x2B, 0x2D):
                state = "exp_sign"
                continue
            if c in _DIGITS:
                state = "exp0"
                continue
            return bad(c, "in numeric literal")
        elif state == "exp0":
            if c in _DIGITS:
                continue
            state = "end"
        # state is "end" (a value just finished) or "end_top": c is not consumed yet.
        if state == "end" and not stack:
            state = "end_top"
        if state == "end_top":
            if c in _SPACE:
                continue
            return bad(c, "after top-level value")
        if c in _SPACE:
            continue
        top = stack[-1]
        if top == "key":
            if c == 0x3A:
                stack[-1] = "val"
                state = "begin"
                continue
            return bad(c, "after object key")
        if top == "val":
            if c == 0x2C:
                stack[-1] = "key"
                state = "key"
                continue
            if c == 0x7D:
                stack.pop()
                continue
            return bad(c, "after object key:value pair")
        if c == 0x2C:
            state = "begin"
            continue
        if c == 0x5D:
            stack.pop()
            continue
        return bad(c, "after array element")
