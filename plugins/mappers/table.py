"""The ``mappings`` config section compiled into one table per account.

A :class:`MappingTable` holds every mapping of an account (nats-server's ``mappings`` at
server level, or inside an account) and is what the publish path calls: literal sources
by dict lookup, wildcard sources in order, results remembered per subject when every
mapping is deterministic.  :func:`compile_mappings` reads the section in the nats-server
syntax, which is also the TOML shape; :func:`mappings_schema` is its JSON Schema.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from natskern.kernel.subjects.transform import (
    MappingError,
    MappingFunction,
    SubjectTransform,
    WeightedTransform,
    compile_mapping,
    compile_weighted,
    identity_destination,
)

__all__ = ["MappingTable", "compile_mappings", "mappings_schema"]


class MappingTable:
    """All mappings of one account, applied to every publish.

    Literal sources are looked up in a dict; wildcard sources are tried in the order
    given and the first match wins (nats-server keeps insertion order too, but its config
    map has no defined order, so overlapping wildcard sources should be avoided).  With
    more than a couple of wildcard sources they are bucketed by first token, so a subject
    only tries the sources that can match it.

    ``apply(subject) -> bytes | None`` (None: no mapping matches) and ``map(subject) ->
    bytes`` (the subject to route: mapped, unchanged, or ``DROP``, i.e. ``b""``, meaning
    discard the message) are closures bound
    at construction; ``map`` is what an account's publish path calls.  When every
    transform is ``pure``, ``map`` remembers up to ``cache_size`` subjects (and starts
    afresh when full), so a repeated subject costs one dict lookup, mapped or not.
    """

    __slots__ = ("apply", "map", "pure", "transforms")

    #: Up to this many wildcard sources are tried in a row without bucketing.
    LINEAR_LIMIT: Final = 2

    def __init__(
        self,
        transforms: Sequence[SubjectTransform | WeightedTransform],
        cache_size: int = 4096,
    ) -> None:
        self.transforms = list(transforms)
        literal: dict[bytes, Callable[[bytes], bytes | None]] = {}
        wildcard: list[tuple[str, Callable[[bytes], bytes | None]]] = []
        for t in self.transforms:
            tokens = t.source.split(".")
            if "*" in tokens or ">" in tokens:
                wildcard.append((tokens[0], t.apply))
            else:
                literal.setdefault(t.source.encode(), t.apply)
        self.apply = _table_program(literal, wildcard, self.LINEAR_LIMIT)
        apply = self.apply

        def map_subject(subject: bytes) -> bytes:
            mapped = apply(subject)
            return subject if mapped is None else mapped

        #: True when every transform maps a subject the same way each time.
        self.pure = all(t.pure for t in self.transforms)
        if cache_size > 0 and self.pure:
            self.map = _cached(map_subject, cache_size)
        else:
            self.map = map_subject

    def __call__(self, subject: bytes) -> bytes:
        """Same as :attr:`map`."""
        return self.map(subject)

    def __len__(self) -> int:
        return len(self.transforms)


def _cached(map_subject: Callable[[bytes], bytes], size: int) -> Callable[[bytes], bytes]:
    cache: dict[bytes, bytes] = {}
    get = cache.get

    def cached_map(subject: bytes) -> bytes:
        routed = get(subject)
        if routed is None:
            routed = map_subject(subject)
            if len(cache) >= size:
                cache.clear()
            cache[subject] = routed
        return routed

    return cached_map


def _table_program(
    literal: dict[bytes, Callable[[bytes], bytes | None]],
    wildcard: list[tuple[str, Callable[[bytes], bytes | None]]],
    linear_limit: int,
) -> Callable[[bytes], bytes | None]:
    get_literal = literal.get
    if not wildcard:

        def literal_only(subject: bytes) -> bytes | None:
            apply = get_literal(subject)
            return None if apply is None else apply(subject)

        return literal_only

    if len(wildcard) <= linear_limit:
        applies = tuple(a for _, a in wildcard)

        def linear(subject: bytes) -> bytes | None:
            apply = get_literal(subject)
            if apply is not None:
                return apply(subject)
            for apply in applies:
                mapped = apply(subject)
                if mapped is not None:
                    return mapped
            return None

        return linear

    anywhere = ("*", ">")
    firsts = {first for first, _ in wildcard if first not in anywhere}
    buckets = {
        first.encode(): tuple(a for f, a in wildcard if f == first or f in anywhere)
        for first in firsts
    }
    get_bucket = buckets.get
    rest = tuple(a for f, a in wildcard if f in anywhere)

    def bucketed(subject: bytes) -> bytes | None:
        apply = get_literal(subject)
        if apply is not None:
            return apply(subject)
        for apply in get_bucket(subject.partition(b".")[0], rest):
            mapped = apply(subject)
            if mapped is not None:
                return mapped
        return None

    return bucketed


def compile_mappings(
    section: Mapping[str, Any],
    functions: Mapping[str, MappingFunction],
    *,
    cluster: str | None = None,
    rng: random.Random | None = None,
    cache_size: int = 4096,
) -> MappingTable:
    """Compile a ``mappings`` config section into a :class:`MappingTable`.

    Each key is a source; each value a destination string, or a weighted entry
    ``{"destination" | "dest": str, "weight": int | "NN%", "cluster": str (optional)}``
    or a list of them: the nats-server syntax.  Entries scoped to ``cluster`` replace
    the unscoped ones when this server's cluster has any; entries of other clusters are
    ignored.  ``cache_size`` bounds the table's memo of mapped subjects (0: no memo).
    """
    transforms: list[SubjectTransform | WeightedTransform] = []
    for source, value in section.items():
        if isinstance(value, str):
            transforms.append(compile_mapping(source, value, functions))
            continue
        if isinstance(value, Mapping):  # one weighted entry without the list around it
            value = [value]
        if not isinstance(value, Sequence) or not value:
            raise MappingError(f"mapping {source!r}: expected a destination or a list of them")
        plain: list[tuple[str, int | str]] = []
        scoped: list[tuple[str, int | str]] = []
        for entry in value:
            dest, weight, where = _weighted_entry(source, entry)
            if where is None:
                plain.append((dest, weight))
            elif where == cluster:
                scoped.append((dest, weight))
        if not scoped and not plain:  # only other clusters' entries: like nats-server,
            transforms.append(compile_mapping(source, identity_destination(source), functions))
            continue  # the subject is matched but kept
        transforms.append(compile_weighted(source, scoped or plain, functions, rng=rng))
    return MappingTable(transforms, cache_size)


def _weighted_entry(source: str, entry: Any) -> tuple[str, int | str, str | None]:
    if not isinstance(entry, Mapping):
        raise MappingError(f"mapping {source!r}: destination entry {entry!r} is not a table")
    unknown = set(entry) - {"destination", "dest", "weight", "cluster"}
    if unknown:
        raise MappingError(f"mapping {source!r}: unknown field(s) {sorted(unknown)}")
    dest = entry.get("destination", entry.get("dest"))
    if not isinstance(dest, str):
        raise MappingError(f"mapping {source!r}: entry {dict(entry)!r} has no destination")
    if "weight" not in entry:
        raise MappingError(f"mapping {source!r}: destination {dest!r} has no weight")
    where = entry.get("cluster")
    return dest, entry["weight"], where if isinstance(where, str) and where else None


def mappings_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a ``mappings`` section (server or account level)."""
    weight = {
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": 100},
            {"type": "string", "pattern": r"^\s*[0-9]{1,3}\s*%?\s*$"},
        ]
    }
    entry = {
        "type": "object",
        "properties": {
            "destination": {"type": "string", "minLength": 1},
            "dest": {"type": "string", "minLength": 1},
            "weight": weight,
            "cluster": {"type": "string"},
        },
        "required": ["weight"],
        "oneOf": [{"required": ["destination"]}, {"required": ["dest"]}],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": "Subject mappings: source subject -> destination or weighted list.",
        "additionalProperties": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                entry,
                {"type": "array", "items": entry, "minItems": 1},
            ]
        },
    }
