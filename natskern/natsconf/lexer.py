"""Tokenizer for nats-server's configuration syntax (the counterpart of ``conf/lex.go``).

The format is relaxed JSON/HOCON: ``key = value``, ``key: value`` or ``key value``;
``{}`` maps and ``[]`` arrays; ``#`` and ``//`` comments; ``include path``;
``$VAR`` references; numbers with size suffixes; booleans ``true/false/yes/no/on/off``;
double-quoted strings with escapes, single-quoted raw strings, unquoted strings and
``( ... )`` block strings whose ``)`` stands alone on its line.

The rules follow nats-server 2.9's lexer, checked against the real binary:

* An unquoted token starting with a digit is an integer (optionally with a size suffix
  ``k m g t p e`` followed by any run of ``b``/``i``), a float, an ISO-8601 Zulu
  datetime, an IP-like string (two or more dots: ``127.0.0.1:4222``) or, as soon as a
  character that cannot continue a number appears, a plain string (``1kx``, ``12ab``,
  ``1:2``).  ``2m`` is therefore the integer 2,000,000 and ``30s`` the string "30s".
* Unquoted strings end at whitespace, a newline, ``,``, ``;``, ``]``, ``}`` or a
  single quote, and honour the same ``\\`` escapes as double-quoted ones.
* The only escapes are ``\\xHH \\t \\n \\r \\" \\\\``.

Two deliberate differences: a number may also end at ``]`` (``[1]`` is an array of one
integer; nats-server 2.9 fails to parse it), and constructs where nats-server silently
drops a value or loops forever (an unclosed block string) are errors here.

Tokens carry their 1-based line and column so that every later error can point at the
file position.
"""

from __future__ import annotations

import bisect
import enum
import string
from collections.abc import Callable
from typing import NamedTuple

from natskern.natsconf.errors import ConfSyntaxError

__all__ = ["Kind", "Token", "tokenize"]


class Kind(enum.Enum):
    """What a token is."""

    KEY = "key"
    STRING = "string"
    BOOL = "bool"
    INTEGER = "integer"  # value: the literal text, suffix included ("64MB", "-1")
    FLOAT = "float"
    DATETIME = "datetime"
    ARRAY_START = "["
    ARRAY_END = "]"
    MAP_START = "{"
    MAP_END = "}"
    VARIABLE = "variable"  # value: the name without "$"
    INCLUDE = "include"  # value: the path as written
    EOF = "eof"


class Token(NamedTuple):
    """One lexical item: its kind, its text (escapes resolved) and where it starts."""

    kind: Kind
    value: str
    line: int
    col: int


BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off"})

_NL = "\n\r"
_BLANK = " \t"
# Where an unquoted string stops (the character is not consumed).
_UNQUOTED_END = "\n\r;,]} \t"
# What may follow an integer; anything else turns the token into a string.
_NUMBER_END = "\n\r};, \t]"
_SIZE_SUFFIX = "kKmMgGtTpPeE"
_SIZE_SUFFIX_TAIL = "bBiI"
_DIGITS = frozenset(string.digits)
_HEX = frozenset(string.hexdigits)
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
_ESCAPE_HELP = 'Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\", \\\\.'
_DATETIME_TAIL = "00-00T00:00:00Z"  # after "YYYY-"; "0" stands for any digit


class _Container(NamedTuple):
    """How an array or a map is delimited and named in error messages."""

    start: Kind
    end: Kind
    terminators: str  # what may separate two items (newlines always do)
    name: str
    article: str


_ARRAY = _Container(Kind.ARRAY_START, Kind.ARRAY_END, ",", "array", "an")
_MAP = _Container(Kind.MAP_START, Kind.MAP_END, ",;", "map", "a")


def _show(ch: str) -> str:
    """A character as error messages print it."""
    return {"": "EOF", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, ch)


def tokenize(text: str, filename: str = "<string>") -> list[Token]:
    """Split ``text`` into tokens, ending with one ``EOF`` token.

    Raises :class:`ConfSyntaxError` (``file:line:col: reason``) at the first error.
    """
    return _Lexer(text, filename).run()


class _Lexer:
    """A hand-written scanner; each ``_lex_*`` method consumes one construct."""

    def __init__(self, text: str, filename: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.file = filename
        self.tokens: list[Token] = []
        self._newlines = [pos for pos, ch in enumerate(text) if ch == "\n"]

    # -- helpers -----------------------------------------------------------------------

    def _where(self, idx: int) -> tuple[int, int]:
        line = bisect.bisect_left(self._newlines, idx) + 1
        line_start = self._newlines[line - 2] + 1 if line > 1 else 0
        return line, idx - line_start + 1

    def _fail(self, reason: str, idx: int | None = None) -> ConfSyntaxError:
        line, col = self._where(self.i if idx is None else idx)
        return ConfSyntaxError(self.file, line, col, reason)

    def _emit(self, kind: Kind, value: str, start: int) -> None:
        line, col = self._where(start)
        self.tokens.append(Token(kind, value, line, col))

    def _at(self, idx: int) -> str:
        return self.s[idx] if idx < self.n else ""

    def _comment_starts(self) -> bool:
        ch = self._at(self.i)
        return ch == "#" or (ch == "/" and self._at(self.i + 1) == "/")

    def _skip_comment(self) -> None:
        while self.i < self.n and self.s[self.i] not in _NL:
            self.i += 1

    def _skip_blanks(self) -> None:
        """Skip spaces and tabs (not newlines)."""
        while self._at(self.i) in ("\t", " "):
            self.i += 1

    def _skip_blank_lines(self, *, top: bool = False) -> None:
        """Skip whitespace (newlines included) and comments; at top level also ``{`` ``}``."""
        while self.i < self.n:
            ch = self.s[self.i]
            if ch.isspace() or (top and ch in "{}"):
                self.i += 1
            elif self._comment_starts():
                self._skip_comment()
            else:
                return

    # -- structure ---------------------------------------------------------------------

    def run(self) -> list[Token]:
        while True:
            self._skip_blank_lines(top=True)
            if self.i >= self.n:
                break
            self._lex_entry(in_map=False)
            self._lex_top_value_end()
        self._emit(Kind.EOF, "", self.n)
        return self.tokens

    def _skip_to_value_end(self) -> str:
        """Skip blanks and a comment after a value; return the next character ("" at EOF)."""
        while True:
            ch = self._at(self.i)
            if ch and ch in _BLANK:
                self.i += 1
            elif self._comment_starts():
                self._skip_comment()
            else:
                return ch

    def _lex_top_value_end(self) -> None:
        ch = self._skip_to_value_end()
        if ch == "":
            return
        if ch in "\n\r;,}":
            self.i += 1
            return
        raise self._fail(
            "Expected a top-level value to end with a new line, comment or EOF, "
            f"but got '{_show(ch)}' instead."
        )

    def _lex_entry(self, *, in_map: bool) -> None:
        """A ``key [sep] value`` pair or an ``include`` directive."""
        start = self.i
        ch = self.s[start]
        if ch in "=:":
            raise self._fail(f"Unexpected key separator '{ch}'.")
        if in_map and ch == "]":
            raise self._fail("Unexpected array end ']' processing map.")
        if ch in "\"'":
            key = self._read_quoted(start, "quoted key")
        else:
            j = start
            while j < self.n and not self.s[j].isspace() and self.s[j] not in "=:":
                j += 1
            key = self.s[start:j]
            self.i = j
            if key.lower() == "include" and j < self.n and self.s[j].isspace():
                self._lex_include(start)
                return
        self._emit(Kind.KEY, key, start)
        while self.i < self.n and self.s[self.i].isspace():
            self.i += 1
        if self.i >= self.n:
            raise self._fail(f'Unexpected EOF: key "{key}" has no value.', start)
        if self.s[self.i] in "=:":
            self.i += 1
        self._lex_value()

    def _lex_include(self, start: int) -> None:
        self._skip_blanks()
        i = self.i
        ch = self._at(i)
        if ch in ("'", '"'):
            path = self._read_quoted(i, "include path")
        else:
            problem = {
                "[": "start of an array",
                "{": "start of a map",
                "(": "start of a block",
                "-": "start of a number",
                "\\": "escape sequence",
                "\n": "new line",
                "\r": "new line",
                "": "end of file",
            }.get(ch)
            if problem is None and ch in _DIGITS:
                problem = "start of a number"
            if problem is not None:
                raise self._fail(f"Expected include value but found {problem}")
            j = i
            while j < self.n and self.s[j] not in "\n\r;} \t'":
                j += 1
            path = self.s[i:j]
            self.i = j + 1 if self._at(j) == "'" else j
        self._emit(Kind.INCLUDE, path, start)

    def _lex_value(self) -> None:
        self._skip_blanks()
        start = self.i
        ch = self._at(start)
        if ch == "":
            raise self._fail("Expected a value but found end of file")
        if ch == "[":
            self._lex_array()
        elif ch == "{":
            self._lex_map()
        elif ch == "'":
            self._emit(Kind.STRING, self._read_quoted(start, "quoted string"), start)
        elif ch == '"':
            self._lex_dq_string(start)
        elif ch == "-":
            self._lex_negative(start)
        elif ch == "(":
            self._lex_block(start)
        elif ch in _DIGITS:
            self._lex_number(start)
        elif ch == ".":
            raise self._fail("Floats must start with a digit")
        elif ch in _NL:
            raise self._fail("Expected value but found new line")
        else:
            self._lex_unquoted(start)

    def _lex_array(self) -> None:
        self._lex_container(_ARRAY, self._lex_value)

    def _lex_map(self) -> None:
        self._lex_container(_MAP, lambda: self._lex_entry(in_map=True))

    def _lex_container(self, spec: _Container, lex_item: Callable[[], None]) -> None:
        """An array or a map: ``spec.start`` ... ``spec.end`` with items lexed by ``lex_item``."""
        opened = self.i
        closer = spec.end.value
        self._emit(spec.start, "", opened)
        self.i += 1
        while True:
            self._skip_blank_lines()
            ch = self._at(self.i)
            if ch == "":
                raise self._fail(
                    f"Unexpected EOF: {spec.name} is not closed with '{closer}'.", opened
                )
            if ch == closer:
                self._emit(spec.end, "", self.i)
                self.i += 1
                return
            if ch in spec.terminators:
                raise self._fail(f"Unexpected {spec.name} value terminator '{ch}'.")
            lex_item()
            ch = self._skip_to_value_end()
            if ch and ch in spec.terminators + _NL:
                self.i += 1
                continue
            if ch == closer:
                self._emit(spec.end, "", self.i)
                self.i += 1
                return
            raise self._fail(
                f"Expected {spec.article} {spec.name} value terminator ',' or "
                f"{spec.article} {spec.name} terminator '{closer}', "
                f"but got '{_show(ch)}' instead."
            )

    # -- strings -----------------------------------------------------------------------

    def _read_quoted(self, start: int, what: str) -> str:
        """The raw text up to the quote matching the one at ``start``; moves past it."""
        end = self.s.find(self.s[start], start + 1)
        if end < 0:
            raise self._fail(f"Unexpected EOF: the {what} is not closed.", start)
        self.i = end + 1
        return self.s[start + 1 : end]

    def _lex_escape(self, i: int, parts: list[bytes]) -> int:
        """Resolve the escape whose backslash is at ``i``; return the index after it."""
        ch = self._at(i + 1)
        if ch and ch in _ESCAPES:
            parts.append(_ESCAPES[ch].encode())
            return i + 2
        if ch == "x":
            digits = self.s[i + 2 : i + 4]
            if len(digits) < 2 or any(c in _NL for c in digits):
                raise self._fail(
                    "Expected two hexadecimal digits after '\\x', but hit end of line", i
                )
            if not all(c in _HEX for c in digits):
                raise self._fail(
                    f"Expected two hexadecimal digits after '\\x', but got '{digits}'", i
                )
            parts.append(bytes.fromhex(digits))
            return i + 4
        raise self._fail(f"Invalid escape character '{_show(ch)}'. {_ESCAPE_HELP}", i + 1)

    @staticmethod
    def _join(parts: list[bytes]) -> str:
        # \xHH escapes are raw bytes, as in Go; keep undecodable ones losslessly.
        return b"".join(parts).decode("utf-8", "surrogateescape")

    def _lex_dq_string(self, start: int) -> None:
        parts: list[bytes] = []
        i = seg = start + 1
        while True:
            if i >= self.n:
                raise self._fail("Unexpected EOF: the quoted string is not closed.", start)
            ch = self.s[i]
            if ch == '"':
                parts.append(self.s[seg:i].encode())
                self.i = i + 1
                break
            if ch == "\\":
                parts.append(self.s[seg:i].encode())
                i = seg = self._lex_escape(i, parts)
                continue
            i += 1
        self._emit(Kind.STRING, self._join(parts), start)

    def _lex_unquoted(self, start: int) -> None:
        parts: list[bytes] = []
        i = seg = start
        escaped = False
        while True:
            ch = self._at(i)
            if ch == "" or ch in _UNQUOTED_END or ch == "'":
                parts.append(self.s[seg:i].encode())
                self.i = i + 1 if ch == "'" else i
                break
            if ch == "\\":
                parts.append(self.s[seg:i].encode())
                i = seg = self._lex_escape(i, parts)
                escaped = True
                continue
            i += 1
        text = self._join(parts)
        if escaped:
            self._emit(Kind.STRING, text, start)
        elif text.lower() in BOOL_WORDS:
            self._emit(Kind.BOOL, text, start)
        elif text.startswith("$"):
            self._emit(Kind.VARIABLE, text[1:], start)
        else:
            self._emit(Kind.STRING, text, start)

    def _lex_block(self, start: int) -> None:
        search = start + 1
        while True:
            end = self.s.find(")", search)
            if end < 0:
                raise self._fail(
                    "Unexpected EOF: the block string is not closed by a ')' on a line of its own.",
                    start,
                )
            if self.s[end - 1] == "\n" and self._at(end + 1) in ("", "\n"):
                self._emit(Kind.STRING, self.s[start + 1 : end], start)
                self.i = end + 1
                return
            search = end + 1

    # -- numbers -----------------------------------------------------------------------

    def _skip_digits(self, i: int) -> int:
        while i < self.n and self.s[i] in _DIGITS:
            i += 1
        return i

    def _lex_suffixed(self, start: int, suffix_at: int) -> None:
        """An integer with a size suffix, or a string if more text follows (``1kx``)."""
        j = suffix_at + 1
        while j < self.n and self.s[j] in _SIZE_SUFFIX_TAIL:
            j += 1
        nxt = self._at(j)
        if nxt == "" or nxt in _NUMBER_END or nxt in _DIGITS:
            self._emit(Kind.INTEGER, self.s[start:j], start)
            self.i = j
        else:
            self._lex_unquoted(start)

    def _lex_number(self, start: int) -> None:
        i = self._skip_digits(start)
        ch = self._at(i)
        if ch == "-":
            if i - start != 4:
                raise self._fail("All ISO8601 dates must be in full Zulu form.", i)
            self._lex_datetime(start)
        elif ch == ".":
            self._lex_float(start, i)
        elif ch and ch in _SIZE_SUFFIX:
            self._lex_suffixed(start, i)
        elif ch == "" or ch in _NUMBER_END:
            self._emit(Kind.INTEGER, self.s[start:i], start)
            self.i = i
        else:
            self._lex_unquoted(start)

    def _lex_negative(self, start: int) -> None:
        ch = self._at(start + 1)
        if ch not in _DIGITS or ch == "":
            if ch == ".":
                raise self._fail("Floats must start with a digit, not '.'.", start + 1)
            raise self._fail(f"Expected a digit but got '{_show(ch)}'.", start + 1)
        i = self._skip_digits(start + 1)
        ch = self._at(i)
        if ch == ".":
            self._lex_float(start, i)
        elif ch and ch in _SIZE_SUFFIX:
            self._lex_suffixed(start, i)
        else:
            self._emit(Kind.INTEGER, self.s[start:i], start)
            self.i = i

    def _lex_float(self, start: int, dot: int) -> None:
        i = dot + 1
        ch = self._at(i)
        if ch == "" or ch not in _DIGITS:
            raise self._fail(
                f"Floats must have a digit after the '.', but got '{_show(ch)}' instead.", i
            )
        i = self._skip_digits(i)
        if self._at(i) == ".":
            # More dots: an IP address (optionally with :port), kept as a string.
            while i < self.n and (self.s[i] in _DIGITS or self.s[i] in ".:-"):
                i += 1
            self._emit(Kind.STRING, self.s[start:i], start)
        else:
            self._emit(Kind.FLOAT, self.s[start:i], start)
        self.i = i

    def _lex_datetime(self, start: int) -> None:
        i = start + 5  # past "YYYY-"
        for expected in _DATETIME_TAIL:
            ch = self._at(i)
            if expected == "0":
                if ch == "" or ch not in _DIGITS:
                    raise self._fail(
                        f"Expected digit in ISO8601 datetime, but found '{_show(ch)}' instead.", i
                    )
            elif ch != expected:
                raise self._fail(
                    f"Expected '{expected}' in ISO8601 datetime, but found '{_show(ch)}' instead.",
                    i,
                )
            i += 1
        self._emit(Kind.DATETIME, self.s[start:i], start)
        self.i = i
