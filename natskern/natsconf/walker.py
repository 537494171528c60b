"""The mechanics of translation: walking maps against key tables, typed reads, problem lists.

A :class:`Translation` collects three kinds of findings, each a line that starts with
``file:line:``:

* ``problems`` — unknown keys and unusable values; any problem fails the translation;
* ``warnings`` — what nats-server warns about (a duration given as a bare number); the
  broker still starts, and ``-t`` fails like nats-server's does;
* ``ignored`` — keys nats-server documents that natskern accepts but does not act on.

A :class:`Field` is one key being read: it knows its dotted path and position, and its
typed readers (:meth:`Field.string`, :meth:`Field.size`, :meth:`Field.duration`...)
return ``None`` after recording a problem when the value has the wrong type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from natskern.natsconf.parser import ConfList, ConfMap, Pos
from natskern.natsconf.values import describe, parse_go_duration

#: A key handler: reads ``value`` through ``field`` and writes the result into ``out``
#: (the model for top-level keys, the entry being built for nested ones).
Handler = Callable[["Field", Any, dict[str, Any]], None]


class Translation:
    """The model being built and the findings so far."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.model: dict[str, Any] = {}
        self._problems: list[tuple[tuple[str, int, int], str]] = []
        self.warnings: list[str] = []
        self.ignored: list[str] = []
        #: Cross-reference bookkeeping for the checks that run after every key was read.
        self.user_names: dict[str, Pos | None] = {}
        self.imported_accounts: list[tuple[Field, str]] = []
        self.store_dir_at: Pos | None = None

    @property
    def problems(self) -> list[str]:
        """Problem lines, in file order."""
        return [text for _, text in sorted(self._problems, key=lambda item: item[0])]

    @property
    def problem_count(self) -> int:
        """How many problems were recorded so far (to skip follow-up checks after one)."""
        return len(self._problems)

    def where(self, pos: Pos | None) -> str:
        """``file:line`` of ``pos`` (the source file when unknown)."""
        return str(pos) if pos is not None else self.source

    def problem(self, pos: Pos | None, text: str) -> None:
        """Record a problem line (``text`` without the position prefix)."""
        order = (pos.file, pos.line, pos.col) if pos is not None else (self.source, 0, 0)
        self._problems.append((order, f"{self.where(pos)}: {text}"))

    def section(self, name: str) -> dict[str, Any]:
        """The model section ``name``, created empty on first use."""
        return self.model.setdefault(name, {})


class Field:
    """One key being translated: its path (``authorization.users[0].user``) and position."""

    def __init__(self, tr: Translation, path: str, pos: Pos | None) -> None:
        self.tr = tr
        self.path = path
        self.pos = pos

    # -- findings ----------------------------------------------------------------------

    def error(self, message: str) -> None:
        """Record a problem about this key."""
        self.tr.problem(self.pos, f'key "{self.path}": {message}')

    def warn(self, message: str) -> None:
        """Record a nats-server-style warning about this key."""
        self.tr.warnings.append(f'{self.tr.where(self.pos)}: key "{self.path}": {message}')

    def ignore(self, why: str = "not implemented by natskern") -> None:
        """Record that this documented key is accepted but has no effect."""
        self.tr.ignored.append(f'{self.tr.where(self.pos)}: key "{self.path}" is ignored: {why}')

    def child(self, key: str, pos: Pos | None) -> Field:
        """The field of ``key`` inside this one."""
        return Field(self.tr, f"{self.path}.{key}" if self.path else key, pos or self.pos)

    def item(self, index: int, pos: Pos | None) -> Field:
        """The field of element ``index`` of this array."""
        return Field(self.tr, f"{self.path}[{index}]", pos or self.pos)

    # -- typed readers -----------------------------------------------------------------

    def _expected(self, what: str, value: Any) -> None:
        self.error(f"expected {what}, got {describe(value)}")

    def string(self, value: Any) -> str | None:
        """A string value."""
        if isinstance(value, str):
            return value
        self._expected("a string", value)
        return None

    def boolean(self, value: Any) -> bool | None:
        """A boolean (``true/false/yes/no/on/off``, unquoted)."""
        if isinstance(value, bool):
            return value
        self._expected("a boolean (true or false)", value)
        return None

    def integer(
        self, value: Any, *, what: str = "an integer", minimum: int | None = None
    ) -> int | None:
        """An integer (not a boolean), optionally at least ``minimum``."""
        if isinstance(value, int) and not isinstance(value, bool):
            if minimum is not None and value < minimum:
                self.error(f"must be at least {minimum}, got {value}")
                return None
            return value
        self._expected(what, value)
        return None

    def size(self, value: Any, *, minimum: int | None = 0) -> int | None:
        """A byte size: an integer, optionally with a suffix (``64MB``, ``1k``)."""
        return self.integer(value, what="a size", minimum=minimum)

    def number(self, value: Any) -> float | None:
        """An integer or float."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        self._expected("a number", value)
        return None

    def duration(self, value: Any, *, numbers: str = "seconds") -> float | None:
        """Seconds in a duration string (``"2m"``); bare numbers per ``numbers``.

        ``numbers`` is ``"seconds"`` (a number is seconds), ``"warn"`` (seconds, with
        nats-server's "should be converted to a duration" warning) or ``"error"``.
        """
        if isinstance(value, str):
            try:
                seconds = parse_go_duration(value)
            except ValueError as exc:
                self.error(f'expected a duration like "2m" or "500ms": {exc}')
                return None
            if seconds < 0:
                self.error(f"must not be negative, got {describe(value)}")
                return None
            return seconds
        if isinstance(value, int | float) and not isinstance(value, bool):
            if numbers == "error":
                self._expected('a duration string like "2m"', value)
                return None
            if value < 0:
                self.error(f"must not be negative, got {value}")
                return None
            if numbers == "warn":
                self.warn(
                    f"{value} should be converted to a duration: it is read as {value} seconds "
                    '(note that an unquoted 2m is the number 2,000,000; write "2m")'
                )
            return float(value)
        self._expected('a duration like "2m"', value)
        return None

    def mapping(self, value: Any) -> ConfMap | None:
        """A ``{}`` map."""
        if isinstance(value, Mapping):
            return value if isinstance(value, ConfMap) else _as_confmap(value, self.pos)
        self._expected("a map", value)
        return None

    def elements(self, value: Any, *, scalar_ok: bool = False) -> Iterator[tuple[Field, Any]]:
        """The elements of an array (a lone value counts as one when ``scalar_ok``)."""
        if isinstance(value, list):
            positions = value.position if isinstance(value, ConfList) else (lambda _i: None)
            for index, element in enumerate(value):
                yield self.item(index, positions(index)), element
        elif scalar_ok:
            yield self, value
        else:
            self._expected("an array", value)

    def strings(self, value: Any, *, scalar_ok: bool = True) -> list[str] | None:
        """A list of strings (a lone string counts as a list of one when ``scalar_ok``)."""
        result: list[str] = []
        ok = isinstance(value, list) or scalar_ok
        for field, element in self.elements(value, scalar_ok=scalar_ok):
            text = field.string(element)
            if text is None:
                ok = False
            else:
                result.append(text)
        return result if ok else None

    # -- maps --------------------------------------------------------------------------

    def walk(self, value: Any, table: Mapping[str, Handler], out: dict[str, Any]) -> ConfMap | None:
        """Run the handler of each key of map ``value`` (writing into ``out``).

        Unknown keys are problems.

        Keys match case-insensitively; a key that only served as a ``$variable`` is skipped.
        """
        conf = self.mapping(value)
        if conf is None:
            return None
        before = self.tr.problem_count
        for key, element in conf.items():
            handler = table.get(key.lower())
            field = self.child(key, conf.position(key))
            if handler is not None:
                handler(field, element, out)
            elif key not in conf.used:
                self.tr.problem(field.pos, f'unknown key "{field.path}"')
        return conf if self.tr.problem_count == before else None


def _as_confmap(value: Mapping[str, Any], pos: Pos | None) -> ConfMap:
    conf = ConfMap(pos)
    for key, element in value.items():
        conf.set(key, element, pos)
    return conf


# -- handler factories -----------------------------------------------------------------


def _target(out: dict[str, Any], section: str | None) -> dict[str, Any]:
    return out if section is None else out.setdefault(section, {})


def ignored(why: str = "not implemented by natskern") -> Handler:
    """A handler for a documented key that natskern accepts and does not act on."""

    def handle(field: Field, _value: Any, _out: dict[str, Any]) -> None:
        field.ignore(why)

    return handle


def to_string(name: str, section: str | None = None) -> Handler:
    """Store a string as ``out[name]`` (``out[section][name]`` when ``section`` is given)."""

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        text = field.string(value)
        if text is not None:
            _target(out, section)[name] = text

    return handle


def to_bool(name: str, section: str | None = None) -> Handler:
    """Store a boolean as ``out[name]`` (or ``out[section][name]``)."""

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        flag = field.boolean(value)
        if flag is not None:
            _target(out, section)[name] = flag

    return handle


def to_count(
    name: str, section: str | None = None, *, size: bool = False, limit: int | None = None
) -> Handler:
    """Store a non-negative integer (a size when ``size``); 0 keeps the default, as in Go."""

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        count = field.size(value) if size else field.integer(value, minimum=0)
        if count is None:
            return
        if limit is not None and count > limit:
            field.error(f"value is too big ({count} > {limit})")
        elif count:
            _target(out, section)[name] = count
        else:
            _target(out, section).pop(name, None)

    return handle


def to_duration(name: str, section: str | None = None, *, numbers: str = "seconds") -> Handler:
    """Store seconds of a duration; 0 keeps the default, as in Go."""

    def handle(field: Field, value: Any, out: dict[str, Any]) -> None:
        seconds = field.duration(value, numbers=numbers)
        if seconds is None:
            return
        if seconds:
            _target(out, section)[name] = seconds
        else:
            _target(out, section).pop(name, None)

    return handle


def aliases(table: Mapping[tuple[str, ...] | str, Handler]) -> dict[str, Handler]:
    """Expand ``{("a", "b"): h}`` into ``{"a": h, "b": h}``."""
    expanded: dict[str, Handler] = {}
    for names, handler in table.items():
        for name in (names,) if isinstance(names, str) else names:
            expanded[name] = handler
    return expanded
