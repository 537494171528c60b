"""Body, subject and header templates as natscli expands them.

natscli runs bodies through Go's ``text/template`` with a small function map;
this module implements the part of that language those templates use:
``{{Count}}`` (function form) and ``{{.Count}}`` (field form), arguments
(``{{ Random 10 100 }}``), ``{{- trim -}}`` markers and ``{{/* comments */}}``.

Names: ``Count``/``Cnt`` (message number), ``TimeStamp`` (RFC3339), ``Time``
(Go Kitchen ``3:04PM``), ``Unix``, ``UnixNano``, ``ID`` (a NUID), ``UUID``,
``Random MIN MAX`` (random ``[a-zA-Z0-9]`` string, function form only) and
``Request`` (the request body, for ``reply``; as in natscli the *function* is
only defined when the request is non-empty, ``.Request`` always is).

As in natscli, a template error makes the caller send the raw text.
"""

from __future__ import annotations

import random
import re
import shlex
import string
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nats.nuid import NUID

from natskern.cli.output import go_quote, log
from natskern.cli.runtime import CliError

__all__ = [
    "TemplateError",
    "check_header_flags",
    "expand",
    "expand_or_raw",
    "random_string",
    "render_message",
]

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_LETTERS = string.ascii_letters + string.digits
_nuid = NUID()


class TemplateError(ValueError):
    """A template could not be parsed or executed."""


def random_string(shortest: int, longest: int) -> str:
    """Return a random ``[a-zA-Z0-9]`` string of length ``shortest..longest``."""
    if longest < shortest:
        shortest, longest = longest, shortest
    length = random.randint(max(shortest, 0), max(longest, 0))
    return "".join(random.choices(_LETTERS, k=length))


def _kitchen(now: datetime) -> str:
    hour = now.hour % 12 or 12
    return f"{hour}:{now.minute:02d}{'AM' if now.hour < 12 else 'PM'}"


def _rfc3339(now: datetime) -> str:
    text = now.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _namespace(count: int, request: str | None) -> tuple[dict[str, Callable[..., Any]], dict]:
    """Build (functions, fields) for one expansion, with one "now" for all values."""
    ns = time.time_ns()
    now = datetime.fromtimestamp(ns / 1e9).astimezone()
    values = {
        "Cnt": count,
        "Count": count,
        "Unix": ns // 1_000_000_000,
        "UnixNano": ns,
        "TimeStamp": _rfc3339(now),
        "Time": _kitchen(now),
        "Request": request or "",
    }
    funcs: dict[str, Callable[..., Any]] = {
        "Random": random_string,
        "ID": lambda: _nuid.next().decode(),
        "UUID": lambda: str(uuid.uuid4()),
    }
    for name in ("Count", "Cnt", "Unix", "UnixNano", "TimeStamp", "Time"):
        funcs[name] = lambda v=values[name]: v
    if request:
        funcs["Request"] = lambda: request
    fields: dict[str, Callable[[], Any]] = {k: (lambda v=v: v) for k, v in values.items()}
    fields["ID"] = funcs["ID"]
    return funcs, fields


def _parse_arg(token: str) -> Any:
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'`":
        return token[1:-1]
    raise TemplateError(f"unsupported argument {go_quote(token)}")


def _evaluate(action: str, funcs: dict, fields: dict) -> str:
    """Evaluate one action (the text between the braces)."""
    body = action.strip()
    if body.startswith("/*") and body.endswith("*/"):
        return ""
    try:
        tokens = shlex.split(body, posix=False)
    except ValueError as exc:
        raise TemplateError(f"template: body: {exc}") from None
    if not tokens:
        raise TemplateError("template: body: missing value for command")
    head, args = tokens[0], tokens[1:]
    if head.startswith("."):
        name = head[1:]
        if name not in fields:
            raise TemplateError(f"template: body: can't evaluate field {name}")
        if args:
            raise TemplateError(f"template: body: {name} is not a method but has arguments")
        return str(fields[name]())
    if head not in funcs:
        raise TemplateError(f'template: body: function "{head}" not defined')
    values = [_parse_arg(a) for a in args]
    try:
        return str(funcs[head](*values))
    except TypeError:
        raise TemplateError(f"template: body: wrong number of args for {head}") from None


def expand(text: str, count: int = 0, request: str | None = None) -> str:
    """Expand every ``{{...}}`` action in ``text``; raise :class:`TemplateError` on error."""
    if "{{" not in text:
        return text
    funcs, fields = _namespace(count, request)
    out: list[str] = []
    pos = 0
    for match in _ACTION.finditer(text):
        literal = text[pos : match.start()]
        if match.group(1):
            literal = literal.rstrip()
        out.append(literal)
        out.append(_evaluate(match.group(2), funcs, fields))
        pos = match.end()
        if match.group(3):
            while pos < len(text) and text[pos].isspace():
                pos += 1
    rest = text[pos:]
    if "{{" in rest:
        raise TemplateError("template: body: unclosed action")
    out.append(rest)
    return "".join(out)


def expand_or_raw(text: str, count: int, request: str | None = None, what: str = "body") -> str:
    """Expand ``text``; on error log ``Could not parse <what> template: ...`` and return it raw."""
    try:
        return expand(text, count, request)
    except TemplateError as exc:
        log(f"Could not parse {what} template: {exc}")
        return text


_HEADER_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_headers(specs: tuple[str, ...] | list[str]) -> None:
    """Validate ``-H key:value`` flags up front; raise :class:`ValueError` naming the bad one."""
    for spec in specs:
        key, sep, _ = spec.partition(":")
        if not sep:
            raise ValueError(f"invalid header {go_quote(spec)}: expected key:value")
        if not _HEADER_KEY.fullmatch(key.strip()):
            raise ValueError(f"invalid header {go_quote(spec)}: bad key {go_quote(key.strip())}")


def parse_headers(specs: tuple[str, ...] | list[str], count: int) -> dict[str, str] | None:
    """Turn ``-H key:value`` flags into headers, values template-expanded (natscli rules).

    The split is on the first ``:`` and both sides are trimmed.  nats-py sends
    one value per key, so a repeated key keeps its last value.  Raises
    :class:`ValueError` for a flag without ``:`` or a value template error.
    """
    if not specs:
        return None
    check_headers(specs)
    headers: dict[str, str] = {}
    for spec in specs:
        key, _, value = spec.partition(":")
        try:
            headers[key.strip()] = expand(value.strip(), count)
        except TemplateError as exc:
            raise ValueError(f"failed to parse Header template for {key.strip()}: {exc}") from None
    return headers


def check_header_flags(specs: tuple[str, ...]) -> None:
    """:func:`check_headers` for a command's ``-H`` flags: a bad one raises :class:`CliError`."""
    try:
        check_headers(specs)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def render_message(
    subject: str, body: str, headers: tuple[str, ...], seq: int, *, templates: bool
) -> tuple[str, str, dict[str, str] | None]:
    """The subject, body and headers of message number ``seq`` (as pub and request send it).

    With ``templates`` the subject and body are expanded (raw on a template error); header
    values always are, and a bad one raises :class:`CliError`.
    """
    subj = expand_or_raw(subject, seq, what="subject") if templates else subject
    data = expand_or_raw(body, seq) if templates else body
    try:
        hdrs = parse_headers(headers, seq)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return subj, data, hdrs
