"""Subject-mapping compiler: ``source -> destination`` compiled once into a token program.

Mirrors nats-server's ``subject_transform.go`` (the transform) and the weighted
destinations of ``accounts.go``.  :mod:`natskern.plugins.mappers.table` builds an account's table of
mappings from the config on top of this module; JetStream reuses :func:`compile_mapping`.

A destination is a subject whose tokens are literals, legacy ``$N`` references or mapping
function calls ``{{name(arg, ...)}}`` filling a whole token.  Function names are looked up
case-insensitively in a dict of :class:`MappingFunction` objects contributed by plugins
through the ``register_mapping_functions`` hook (``$N`` is ``{{wildcard(N)}}``).  Every
``N`` is the 1-based index of a ``*`` token of the source, not a token position.

Everything is parsed and validated when a mapping is compiled.  Applying it is a compiled
token program: one ``bytes.split``, one tuple comparison of the literal source tokens, an
``itemgetter`` that gathers literal and copied tokens, the function ops, one ``join``.

``apply`` results: ``None`` means the subject does not match the source (publish it
unchanged); :data:`DROP` (``b""``) means the message must be discarded (a weighted
remainder that was dropped on purpose, or a function result that is not a valid subject,
which nats-server never delivers either); any other value is the mapped subject.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, Protocol

from natskern.kernel.errors import ConfigError
from natskern.kernel.registry import mapping_function_registry

if TYPE_CHECKING:  # pragma: no cover
    import pluggy

__all__ = [
    "DROP",
    "MappingError",
    "MappingFunction",
    "SubjectTransform",
    "TokenOp",
    "WeightedTransform",
    "collect_functions",
    "compile_mapping",
    "compile_weighted",
    "identity_destination",
    "parse_int",
    "parse_weight",
    "pure",
    "wildcard_index",
]

DROP: Final = b""
"""What ``apply`` returns when the message must be discarded."""

#: ``op(tokens, wildcard_positions) -> bytes | None``.  ``tokens`` are the source subject's
#: tokens (a ``>`` tail stays one element, dots included); ``wildcard_positions[i]`` is the
#: token position of wildcard ``i + 1``.  The op returns the bytes it contributes to the
#: destination (several tokens joined with ``b"."`` are fine; no empty token), or ``None``
#: when the result is not a valid subject and the message must be dropped.
TokenOp = Callable[[Sequence[bytes], Sequence[int]], "bytes | None"]

_MAX_INT32: Final = 2**31 - 1
_WHITESPACE = re.compile(r"[ \t\n\r\f]").search
_FUNCTION_TOKEN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*\}\}", re.DOTALL)
_LEGACY_INDEX = re.compile(r"\$([+-]?[0-9]+)")
_INTEGER = re.compile(r"[+-]?[0-9]+")


class MappingError(ConfigError):
    """A mapping that cannot be compiled: bad subject, unknown function, bad arguments."""


class MappingFunction(Protocol):
    """A function usable inside ``{{ }}`` in a mapping destination.

    Plugins register instances with ``register(name, function)`` from their
    ``register_mapping_functions`` hook implementation.
    """

    name: str

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Validate ``args`` and return the op computing this destination token.

        ``args`` are the comma-separated arguments with surrounding whitespace removed
        (``[]`` for ``f()``); ``wildcard_count`` is the number of ``*`` tokens in the
        source.  Raise :class:`MappingError` with a short reason for bad arguments (use
        :func:`parse_int` and :func:`wildcard_index`).  An op that merely copies wildcard
        ``N`` may carry an int attribute ``wildcard_index = N``: the compiler then copies
        the token itself instead of calling the op.  An op whose result depends only on
        its arguments should be marked with :func:`pure`, so that a mapping table may
        remember its results per subject.
        """
        ...


# --------------------------------------------------------------------------- helpers for
# function authors


def parse_int(arg: str, what: str, *, minimum: int | None = None) -> int:
    """Parse a decimal integer argument (optional sign), or raise :class:`MappingError`.

    ``what`` names the argument in the message; ``minimum`` is an inclusive lower bound.
    Values must fit in a signed 32-bit integer, like nats-server's arguments.
    """
    if not _INTEGER.fullmatch(arg):
        raise MappingError(f"{what} must be an integer, got {arg!r}")
    value = int(arg)
    if value > _MAX_INT32 or value < -_MAX_INT32 - 1:
        raise MappingError(f"{what} {value} does not fit in 32 bits")
    if minimum is not None and value < minimum:
        raise MappingError(f"{what} must be at least {minimum}, got {value}")
    return value


def wildcard_index(arg: str, wildcard_count: int) -> int:
    """Parse a 1-based wildcard index argument and check it against the source.

    Returns the index; raises :class:`MappingError` when it is not an integer or not
    between 1 and ``wildcard_count``.
    """
    index = parse_int(arg, "wildcard index")
    if not 1 <= index <= wildcard_count:
        have = f"{wildcard_count} wildcard{'s' if wildcard_count != 1 else ''}"
        raise MappingError(f"wildcard index {index} out of range (the source has {have})")
    return index


def pure(op: TokenOp) -> TokenOp:
    """Mark ``op`` as deterministic (same tokens, same result); returns ``op``."""
    op.pure = True  # type: ignore[attr-defined]
    return op


def parse_weight(value: int | str) -> int:
    """Parse a destination weight: an int or ``"NN"``/``"NN%"``, between 0 and 100."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MappingError(f"weight must be an integer percentage, got {value!r}")
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        if not text.isdigit():
            raise MappingError(f"weight must be an integer percentage, got {value!r}")
        value = int(text)
    if not 0 <= value <= 100:
        raise MappingError(f"weight {value} is not between 0 and 100")
    return value


# --------------------------------------------------------------------------- parsing


def _split_subject(subject: str, role: str) -> list[str]:
    if not isinstance(subject, str) or not subject:
        raise MappingError(f"{role} subject must be a non-empty string, got {subject!r}")
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise MappingError(f"{role} {subject!r} has an empty token")
        if token == ">" and i != len(tokens) - 1:
            raise MappingError(f"{role} {subject!r}: '>' may only be the last token")
    return tokens


def _parse_source(source: str) -> list[str]:
    tokens = _split_subject(source, "mapping source")
    if _WHITESPACE(source):
        raise MappingError(f"mapping source {source!r} contains whitespace")
    return tokens


def _function_call(token: str) -> tuple[str, list[str]] | None:
    """``(name, args)`` when ``token`` is a ``$N`` or ``{{name(args)}}`` token, else None."""
    legacy = _LEGACY_INDEX.fullmatch(token)
    if legacy:
        return "wildcard", [legacy.group(1)]
    if "{{" not in token and "}}" not in token:
        return None
    match = _FUNCTION_TOKEN.fullmatch(token)
    if match is None:
        raise MappingError(
            f"malformed function call {token!r}: write {{{{name(arg, ...)}}}} as a whole token"
        )
    raw = match.group(2).strip()
    args = [arg.strip() for arg in raw.split(",")] if raw else []
    return match.group(1), args


# --------------------------------------------------------------------------- transforms


class SubjectTransform:
    """One compiled ``source -> destination`` mapping.

    ``apply(subject: bytes) -> bytes | None`` is an instance attribute bound at compile
    time to the cheapest program for this mapping (see the module docstring for results).
    ``pure`` is True when every op is marked :func:`pure` (the same subject always maps
    to the same result).
    """

    __slots__ = ("apply", "destination", "pure", "source", "wildcard_count")

    def __init__(
        self,
        source: str,
        destination: str,
        wildcard_count: int,
        apply: Callable[[bytes], bytes | None],
        pure: bool = False,
    ) -> None:
        self.source = source
        self.destination = destination
        self.wildcard_count = wildcard_count
        self.apply = apply
        self.pure = pure

    def __repr__(self) -> str:
        return f"<SubjectTransform {self.source!r} -> {self.destination!r}>"


def compile_mapping(
    source: str, destination: str, functions: Mapping[str, MappingFunction]
) -> SubjectTransform:
    """Validate and compile ``source -> destination`` into a :class:`SubjectTransform`.

    ``source`` may contain ``*`` and ``>`` (``>`` in the source requires ``>`` as the
    last destination token and vice versa).  ``functions`` maps lower-cased names to
    :class:`MappingFunction` objects (see :func:`collect_functions`).  Raises
    :class:`MappingError` naming the mapping and the offending token.
    """
    try:
        return _compile(source, destination, functions)
    except MappingError as err:
        raise MappingError(f"mapping {source!r} -> {destination!r}: {err}") from None


def _compile(
    source: str, destination: str, functions: Mapping[str, MappingFunction]
) -> SubjectTransform:
    stoks = _parse_source(source)
    dtoks = _split_subject(destination, "destination")
    has_fwc = stoks[-1] == ">"
    if has_fwc != (dtoks[-1] == ">"):
        side = "source" if has_fwc else "destination"
        raise MappingError(f"'>' in the {side} requires '>' as the last token of both subjects")
    wpos = tuple(i for i, t in enumerate(stoks) if t == "*")
    count = len(wpos)
    nsrc = len(stoks)
    lit_positions = [i for i, t in enumerate(stoks) if t not in ("*", ">")]

    # Destination items: ("lit", bytes) | ("tok", token position) | ("op", TokenOp).
    items: list[tuple[str, Any]] = []
    for slot, token in enumerate(dtoks[:-1] if has_fwc else dtoks):
        call = _function_call(token)
        if call is None:
            if token == "*":
                raise MappingError("the destination may not contain '*' wildcards")
            if _WHITESPACE(token):
                raise MappingError(f"destination token {token!r} contains whitespace")
            if (count or has_fwc) and slot in lit_positions and stoks[slot] == token:
                items.append(("tok", slot))  # the matched subject has this very token here
            else:
                items.append(("lit", token.encode()))
            continue
        name, args = call
        function = functions.get(name.lower())
        if function is None:
            known = ", ".join(sorted(functions)) or "none"
            raise MappingError(f"unknown mapping function {name!r} in {token} (known: {known})")
        try:
            op = function.compile(args, count)
        except MappingError as err:
            raise MappingError(f"{err} in {token}") from None
        index = getattr(op, "wildcard_index", None)
        if isinstance(index, int) and 1 <= index <= count:
            items.append(("tok", wpos[index - 1]))
        else:
            items.append(("op", op))
    if has_fwc:
        items.append(("tok", nsrc - 1))  # the '>' tail is one element of the token list

    if count == 0 and not has_fwc:
        apply = _literal_program(source.encode(), items, stoks)
    else:
        apply = _wildcard_program(stoks, lit_positions, wpos, has_fwc, items)
    is_pure = all(getattr(v, "pure", False) is True for k, v in items if k == "op")
    return SubjectTransform(source, destination, count, apply, is_pure)


def _gather(items: list[tuple[str, Any]], nsrc: int) -> tuple[list[bytes], Any]:
    """Destination literals and a getter picking every output slot from ``tokens + lits``."""
    lits = [value for kind, value in items if kind == "lit"]
    indexes = []
    for kind, value in items:
        if kind == "lit":
            indexes.append(nsrc + lits.index(value))
        elif kind == "tok":
            indexes.append(value)
        else:  # op slots are overwritten by the op's result; any index will do
            indexes.append(0)
    if len(indexes) == 1:
        only = indexes[0]
        return lits, lambda ext: (ext[only],)
    return lits, itemgetter(*indexes)


def _literal_program(
    src: bytes, items: list[tuple[str, Any]], stoks: list[str]
) -> Callable[[bytes], bytes | None]:
    ops = [(i, v) for i, (k, v) in enumerate(items) if k == "op"]
    if not ops:
        dest = b".".join(v for _, v in items)

        def apply_constant(subject: bytes) -> bytes | None:
            return dest if subject == src else None

        return apply_constant

    tokens = [t.encode() for t in stoks]
    template = [v if k == "lit" else b"" for k, v in items]
    nowild: tuple[int, ...] = ()

    def apply_literal(subject: bytes) -> bytes | None:
        if subject != src:
            return None
        out = template.copy()
        for slot, op in ops:
            out[slot] = op(tokens, nowild)
        try:
            return b".".join(out)
        except TypeError:  # an op returned None
            return DROP

    return apply_literal


def _wildcard_program(
    stoks: list[str],
    lit_positions: list[int],
    wpos: tuple[int, ...],
    has_fwc: bool,
    items: list[tuple[str, Any]],
) -> Callable[[bytes], bytes | None]:
    nsrc = len(stoks)
    # With '>' the tail stays one element: split at most nsrc - 1 times.  Without it,
    # splitting nsrc times bounds the work on long subjects and still detects extra tokens.
    maxsplit = nsrc - 1 if has_fwc else nsrc
    if len(lit_positions) > 1:
        lit_get: Callable[[list[bytes]], Any] | None = itemgetter(*lit_positions)
        lit_vals: Any = tuple(stoks[i].encode() for i in lit_positions)
    elif lit_positions:
        lit_get = itemgetter(lit_positions[0])
        lit_vals = stoks[lit_positions[0]].encode()
    else:
        lit_get = lit_vals = None
    ops = [(i, v) for i, (k, v) in enumerate(items) if k == "op"]
    lits, getter = _gather(items, nsrc)
    identity = not ops and not lits and [v for _, v in items] == list(range(nsrc))

    # The variants below repeat the same three matching lines on purpose: a shared helper
    # would cost a Python call per message.
    if identity:

        def apply_identity(subject: bytes) -> bytes | None:
            toks = subject.split(b".", maxsplit)
            if len(toks) != nsrc or not toks[-1]:
                return None
            if lit_get is not None and lit_get(toks) != lit_vals:
                return None
            return subject

        return apply_identity

    if not ops:

        def apply_gather(subject: bytes) -> bytes | None:
            toks = subject.split(b".", maxsplit)
            if len(toks) != nsrc or not toks[-1]:
                return None
            if lit_get is not None and lit_get(toks) != lit_vals:
                return None
            if lits:
                toks += lits
            return b".".join(getter(toks))

        return apply_gather

    if len(ops) == 1:
        slot, op = ops[0]

        def apply_op(subject: bytes) -> bytes | None:
            toks = subject.split(b".", maxsplit)
            if len(toks) != nsrc or not toks[-1]:
                return None
            if lit_get is not None and lit_get(toks) != lit_vals:
                return None
            out = list(getter(toks + lits if lits else toks))
            out[slot] = op(toks, wpos)
            try:
                return b".".join(out)
            except TypeError:  # the op returned None: not a deliverable subject
                return DROP

        return apply_op

    def apply_ops(subject: bytes) -> bytes | None:
        toks = subject.split(b".", maxsplit)
        if len(toks) != nsrc or not toks[-1]:
            return None
        if lit_get is not None and lit_get(toks) != lit_vals:
            return None
        out = list(getter(toks + lits if lits else toks))
        for slot, op in ops:
            out[slot] = op(toks, wpos)
        try:
            return b".".join(out)
        except TypeError:  # an op returned None: not a deliverable subject
            return DROP

    return apply_ops


class WeightedTransform:
    """A source with several weighted destinations; one is picked at random per message.

    ``apply(subject)`` returns None when the subject does not match the source, else the
    subject mapped by a destination chosen with probability ``weight / 100`` (or
    :data:`DROP` for a dropped remainder).
    """

    __slots__ = ("_rand", "_table", "choices", "source")

    #: A random choice per message: results can never be remembered.
    pure: Final = False

    def __init__(
        self,
        source: str,
        choices: list[tuple[SubjectTransform | None, int]],
        rng: random.Random | None = None,
    ) -> None:
        #: ``(transform or None for "drop", weight)`` with weights summing to 100.
        self.source = source
        self.choices = choices
        self._rand = (rng or random.Random()).random
        match = _matcher(choices)
        table: list[Callable[[bytes], bytes | None]] = []
        for transform, weight in sorted(choices, key=lambda c: c[1]):
            table.extend([transform.apply if transform is not None else match] * weight)
        self._table = table

    def apply(self, subject: bytes) -> bytes | None:
        """Map ``subject`` through a destination picked at random by weight."""
        return self._table[int(self._rand() * 100)](subject)

    def __repr__(self) -> str:
        dests = ", ".join(f"{t.destination if t else 'DROP'!r}: {w}" for t, w in self.choices)
        return f"<WeightedTransform {self.source!r} -> {{{dests}}}>"


def _matcher(
    choices: list[tuple[SubjectTransform | None, int]],
) -> Callable[[bytes], bytes | None]:
    """A function returning DROP when the subject matches the shared source, else None."""
    probe = next(t for t, _ in choices if t is not None).apply

    def drop_if_match(subject: bytes) -> bytes | None:
        return None if probe(subject) is None else DROP

    return drop_if_match


def identity_destination(source: str) -> str:
    """The destination mapping ``source`` onto itself (``a.*.>`` -> ``a.$1.>``)."""
    n = 0
    out = []
    for token in source.split("."):
        if token == "*":
            n += 1
            out.append(f"${n}")
        else:
            out.append(token)
    return ".".join(out)


def compile_weighted(
    source: str,
    destinations: Sequence[tuple[str, int | str]],
    functions: Mapping[str, MappingFunction],
    *,
    rng: random.Random | None = None,
) -> SubjectTransform | WeightedTransform:
    """Compile a source with weighted destinations ``[(destination, weight_percent), ...]``.

    Weights are 0-100 and sum to at most 100.  As in nats-server, when they sum to less
    than 100 the remainder goes to the unchanged subject, unless the source itself is
    listed as a destination: then the remainder is dropped.  A single destination of
    weight 100 compiles to a plain :class:`SubjectTransform`.  ``rng`` makes the choice
    reproducible in tests.
    """
    if not destinations:
        raise MappingError(f"mapping {source!r}: no destination")
    seen: set[str] = set()
    choices: list[tuple[SubjectTransform | None, int]] = []
    total = 0
    for entry in destinations:
        if not isinstance(entry, tuple | list) or len(entry) != 2:
            raise MappingError(f"mapping {source!r}: {entry!r} is not (destination, weight)")
        dest, raw_weight = entry
        if dest in seen:
            raise MappingError(f"mapping {source!r}: destination {dest!r} is listed twice")
        seen.add(dest)
        try:
            weight = parse_weight(raw_weight)
        except MappingError as err:
            raise MappingError(f"mapping {source!r} -> {dest!r}: {err}") from None
        total += weight
        if total > 100:
            raise MappingError(f"mapping {source!r}: the weights add up to more than 100")
        choices.append((compile_mapping(source, dest, functions), weight))
    if total < 100:
        if source in seen:
            choices.append((None, 100 - total))
        else:
            identity = compile_mapping(source, identity_destination(source), functions)
            choices.append((identity, 100 - total))
    if len(choices) == 1 and choices[0][0] is not None:
        return choices[0][0]
    return WeightedTransform(source, choices, rng)


# --------------------------------------------------------------------------- registry


def collect_functions(pm: pluggy.PluginManager) -> dict[str, MappingFunction]:
    """Call every ``register_mapping_functions`` implementation and collect the functions.

    Returns ``{lower-cased name: function}``, filled through the same
    :func:`natskern.kernel.registry.mapping_function_registry` a broker uses: a name
    registered by two plugins (in any letter case), or an object without
    ``compile(args, wildcard_count)``, raises :class:`natskern.kernel.errors.PluginError`
    naming the plugins.
    """
    return mapping_function_registry().collect(pm).as_dict()
