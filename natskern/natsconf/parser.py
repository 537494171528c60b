"""Build the value tree of a nats-server config file (the counterpart of ``conf/parse.go``).

:func:`parse_file` and :func:`parse_text` return a :class:`ConfMap`: a ``dict`` whose
values are ``str``, ``int``, ``float``, ``bool``, ``datetime``, :class:`ConfMap` or
:class:`ConfList`, and which remembers the :class:`Pos` (file, line, column) of every key
so that later errors can name the place.  Keys keep the case they were written in
(nats-server matches them case-insensitively; :mod:`natskern.natsconf.translate` does too).

Semantics, as nats-server applies them:

* Integer size suffixes: ``k m g t p e`` are powers of 1000, ``kb``/``ki``/``kib`` (and
  the same for the others) powers of 1024, case-insensitive: ``1M`` = 1,000,000 and
  ``1MB`` = 1,048,576.  Results must fit in 64 bits.
* ``include path`` merges the top-level keys of another file, found relative to the
  including file's directory, at that point.  The included file is parsed on its own
  (it does not see the includer's variables); include cycles are errors.
* ``$NAME`` takes the value of the key ``NAME`` defined earlier in the innermost
  enclosing map that has one (arrays are skipped), else of the environment variable
  ``NAME``, whose text is parsed as a config value (``4222`` is an integer).  Unknown
  names and reference cycles are errors.  A key that served as a variable is recorded in
  :attr:`ConfMap.used`, so it is not reported as an unknown key.  ``$2a$...`` (a bcrypt
  hash) is kept as a literal string.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any, NamedTuple

from natskern.natsconf.errors import ConfSyntaxError
from natskern.natsconf.lexer import Kind, Token, tokenize

__all__ = ["ConfList", "ConfMap", "Pos", "parse_file", "parse_integer", "parse_text"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SIZE_MULTIPLIERS: dict[str, int] = {"": 1}
for _exp, _letter in enumerate("kmgtpe", start=1):
    _SIZE_MULTIPLIERS[_letter] = 1000**_exp
    for _binary in ("b", "i", "ib"):
        _SIZE_MULTIPLIERS[_letter + _binary] = 1024**_exp
_ENV_KEY = "pk"


class Pos(NamedTuple):
    """Where a value was written: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class ConfMap(dict[str, Any]):
    """A ``{}`` map of the config file that remembers where each key was written."""

    def __init__(self, pos: Pos | None = None) -> None:
        super().__init__()
        self.pos = pos
        self.positions: dict[str, Pos] = {}
        self.used: set[str] = set()

    def set(self, key: str, value: Any, pos: Pos | None) -> None:
        """Set ``key`` (a later definition replaces an earlier one, as in nats-server)."""
        self[key] = value
        if pos is not None:
            self.positions[key] = pos

    def position(self, key: str) -> Pos | None:
        """Where ``key`` was written, if known."""
        return self.positions.get(key)


class ConfList(list[Any]):
    """A ``[]`` array of the config file that remembers where each element was written."""

    def __init__(self, pos: Pos | None = None) -> None:
        super().__init__()
        self.pos = pos
        self.positions: list[Pos | None] = []

    def add(self, value: Any, pos: Pos | None) -> None:
        """Append ``value`` written at ``pos``."""
        self.append(value)
        self.positions.append(pos)

    def position(self, index: int) -> Pos | None:
        """Where element ``index`` was written, if known."""
        return self.positions[index] if index < len(self.positions) else self.pos


def parse_integer(text: str) -> int:
    """The value of an integer literal with an optional size suffix (``64MB``, ``1k``, ``-1``).

    Raises ``ValueError`` for an unknown suffix or a value outside 64 bits.
    """
    digits_end = 1 if text[:1] == "-" else 0
    while digits_end < len(text) and text[digits_end].isdigit():
        digits_end += 1
    suffix = text[digits_end:].lower()
    if suffix not in _SIZE_MULTIPLIERS:
        raise ValueError(f"invalid size suffix {text[digits_end:]!r} in '{text}'")
    value = int(text[:digits_end]) * _SIZE_MULTIPLIERS[suffix]
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"integer '{text}' is out of the range")
    return value


def parse_file(path: str | os.PathLike[str]) -> ConfMap:
    """Parse the config file at ``path`` (includes are relative to its directory)."""
    name = os.fspath(path)
    text = _read(name, None)
    return _Parser(name, base_dir=os.path.dirname(name) or ".").parse(text)


def parse_text(text: str, filename: str = "<string>", *, base_dir: str | None = None) -> ConfMap:
    """Parse config ``text``; ``filename`` names it in errors.

    Includes are resolved relative to ``base_dir``, by default the directory of
    ``filename`` when it is a path, else the current directory.
    """
    if base_dir is None:
        base_dir = "." if filename.startswith("<") else (os.path.dirname(filename) or ".")
    return _Parser(filename, base_dir=base_dir).parse(text)


def _read(path: str, at: Pos | None) -> str:
    try:
        with open(path, encoding="utf-8-sig") as fh:  # tolerate a byte-order mark
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        if at is None:
            raise ConfSyntaxError(path, 0, 0, f"cannot read config file: {reason}") from None
        raise ConfSyntaxError(
            at.file, at.line, at.col, f"cannot read include file '{path}': {reason}"
        ) from None


class _Parser:
    def __init__(
        self,
        filename: str,
        *,
        base_dir: str,
        includes: tuple[str, ...] = (),
        env_names: frozenset[str] = frozenset(),
    ) -> None:
        self.file = filename
        self.base_dir = base_dir
        real = os.path.realpath(filename) if not filename.startswith("<") else filename
        self.includes = (*includes, real)
        self.env_names = env_names

    def _error(self, pos: Pos, reason: str) -> ConfSyntaxError:
        return ConfSyntaxError(pos.file, pos.line, pos.col, reason)

    def parse(self, text: str) -> ConfMap:
        tokens = tokenize(text, self.file)
        root = ConfMap(Pos(self.file, 1, 1))
        stack: list[ConfMap | ConfList] = [root]
        keys: list[tuple[str, Pos]] = []
        for tok in tokens:
            pos = Pos(self.file, tok.line, tok.col)
            kind = tok.kind
            if kind is Kind.EOF:
                break
            if kind is Kind.KEY:
                keys.append((tok.value, pos))
            elif kind is Kind.MAP_START:
                stack.append(ConfMap(pos))
            elif kind is Kind.ARRAY_START:
                stack.append(ConfList(pos))
            elif kind is Kind.MAP_END or kind is Kind.ARRAY_END:
                done = stack.pop()
                self._store(stack[-1], keys, done, done.pos or pos)
            elif kind is Kind.INCLUDE:
                target = stack[-1]
                assert isinstance(target, ConfMap)  # the lexer only sees includes at key positions
                self._include(target, tok.value, pos)
            elif kind is Kind.VARIABLE:
                self._store(stack[-1], keys, self._lookup(stack, tok.value, pos), pos)
            else:
                self._store(stack[-1], keys, self._scalar(tok, pos), pos)
        return root

    @staticmethod
    def _store(
        target: ConfMap | ConfList, keys: list[tuple[str, Pos]], value: Any, pos: Pos
    ) -> None:
        if isinstance(target, ConfList):
            target.add(value, pos)
        else:
            key, key_pos = keys.pop()
            target.set(key, value, key_pos)

    def _scalar(self, tok: Token, pos: Pos) -> Any:
        kind = tok.kind
        if kind is Kind.STRING:
            return tok.value
        if kind is Kind.BOOL:
            return tok.value.lower() in ("true", "yes", "on")
        if kind is Kind.INTEGER:
            try:
                return parse_integer(tok.value)
            except ValueError as exc:
                raise self._error(pos, str(exc)) from None
        if kind is Kind.FLOAT:
            return float(tok.value)
        if kind is Kind.DATETIME:
            try:
                return datetime.strptime(tok.value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise self._error(
                    pos, f"Expected Zulu formatted DateTime, but got '{tok.value}'."
                ) from None
        raise self._error(pos, f"unexpected {kind.value} token")  # pragma: no cover

    def _include(self, target: ConfMap, path: str, pos: Pos) -> None:
        full = os.path.join(self.base_dir, path)
        real = os.path.realpath(full)
        if real in self.includes:
            chain = " -> ".join((*self.includes[1:], real))
            raise self._error(pos, f"include cycle: '{path}' ({chain})")
        text = _read(full, pos)
        sub = _Parser(
            full,
            base_dir=os.path.dirname(full) or ".",
            includes=self.includes,
            env_names=self.env_names,
        )
        included = sub.parse(text)
        for key, value in included.items():
            target.set(key, value, included.position(key))
            if key in included.used:
                target.used.add(key)

    def _lookup(self, stack: list[ConfMap | ConfList], name: str, pos: Pos) -> Any:
        if name.startswith("2a$"):
            return "$" + name
        for scope in reversed(stack):
            if isinstance(scope, ConfMap) and name in scope:
                scope.used.add(name)
                return scope[name]
        raw = os.environ.get(name)
        if raw is None:
            raise self._error(pos, f"variable reference for '{name}' can not be found")
        if name in self.env_names:
            raise self._error(
                pos, f"variable reference for '{name}' is a cycle (through the environment)"
            )
        sub = _Parser(
            f"<environment variable {name}>",
            base_dir=self.base_dir,
            includes=self.includes,
            env_names=self.env_names | {name},
        )
        try:
            parsed = sub.parse(f"{_ENV_KEY}={raw}")
        except ConfSyntaxError as exc:
            raise self._error(
                pos, f"variable reference for '{name}' could not be parsed: {exc.reason}"
            ) from None
        if _ENV_KEY not in parsed:
            raise self._error(pos, f"variable reference for '{name}' could not be parsed")
        return parsed[_ENV_KEY]
