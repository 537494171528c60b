"""MappingTable: many mappings per account, the nats-server config syntax, the memo."""

from __future__ import annotations

import random

import jsonschema
import pytest
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.subjects.transform import DROP, MappingError, SubjectTransform, compile_mapping
from natskern.plugins.mappers.table import MappingTable, compile_mappings, mappings_schema


def test_table_prefers_literal_sources_then_first_wildcard(functions) -> None:
    table = compile_mappings(
        {"a.*": "first.$1", "*.b": "second.$1", "a.b": "literal", "x.>": "y.>"}, functions
    )
    assert isinstance(table, MappingTable) and len(table) == 4
    assert table.map(b"a.b") == b"literal"
    assert table.map(b"a.c") == b"first.c"
    assert table.map(b"z.b") == b"second.z"
    assert table.map(b"x.1.2") == b"y.1.2"
    assert table.map(b"q.r") == b"q.r"
    assert table.apply(b"q.r") is None
    assert table(b"a.c") == b"first.c"


def test_bucketed_table_agrees_with_linear_lookup(functions) -> None:
    section = {
        "a.*": "A.$1",
        "*.b": "B.$1",
        "a.*.c": "C.$1",
        ">": "any.>",
        "b.>": "never.>",  # ">" comes first in order, so it wins for b.*
        "lit": "LIT",
    }
    table = compile_mappings(section, functions)
    transforms = [compile_mapping(s, d, functions) for s, d in section.items() if s != "lit"]

    def linear(subject: bytes) -> bytes:
        if subject == b"lit":
            return b"LIT"
        for t in transforms:
            mapped = t.apply(subject)
            if mapped is not None:
                return mapped
        return subject

    for subject in (b"a.x", b"q.b", b"a.b", b"a.x.c", b"b.q", b"b", b"lit", b"lit.x", b"z"):
        assert table.map(subject) == linear(subject), subject
    assert table.map(b"b.q") == b"any.b.q"


def test_table_drops_what_a_function_cannot_map(functions) -> None:
    table = compile_mappings({"sp.*": "sp.{{split(1,-)}}"}, functions)
    assert table.map(b"sp.--") == DROP
    assert table.map(b"sp.a-b") == b"sp.a.b"


def test_compile_mappings_reads_the_nats_server_syntax(functions) -> None:
    section = {
        "plain": "renamed",
        "w": {"destination": "w.a", "weight": "100%"},
        "c": [
            {"dest": "c.main", "weight": 100},
            {"dest": "c.east", "weight": 100, "cluster": "east"},
            {"dest": "c.west", "weight": 100, "cluster": "west"},
        ],
    }
    assert compile_mappings(section, functions).map(b"c") == b"c.main"
    east = compile_mappings(section, functions, cluster="east")
    assert east.map(b"c") == b"c.east"
    assert east.map(b"w") == b"w.a"
    assert isinstance(east.transforms[1], SubjectTransform)
    assert east.map(b"plain") == b"renamed"
    west_only = {"o.*": [{"dest": "o.w.$1", "weight": 100, "cluster": "west"}]}
    only_west = compile_mappings(west_only, functions)
    assert only_west.map(b"o.1") == b"o.1"
    assert only_west.apply(b"o.1") == b"o.1"  # matched, and kept as it is


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"a": [{"destination": "b"}]}, "destination 'b' has no weight"),
        ({"a": [{"weight": 10}]}, "has no destination"),
        ({"a": [{"destination": "b", "weight": 10, "colour": "red"}]}, "unknown field"),
        ({"a": []}, "expected a destination or a list"),
        ({"a": 5}, "expected a destination or a list"),
        ({"a": ["b"]}, "is not a table"),
    ],
)
def test_compile_mappings_rejects_malformed_entries(section, message, functions) -> None:
    with pytest.raises(MappingError, match=message):
        compile_mappings(section, functions)


def test_schema_accepts_both_forms_and_rejects_junk() -> None:
    schema = mappings_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {
        "a.*": "b.$1",
        "c": [{"destination": "c.1", "weight": 80}, {"dest": "c.2", "weight": "20%"}],
        "d": {"dest": "d.1", "weight": 50},
    }
    jsonschema.validate(good, schema)
    for bad in ({"a": 1}, {"a": [{"destination": "x"}]}, {"a": [{"dest": "x", "weight": 101}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_memo_gives_the_same_results_as_no_memo(functions) -> None:
    section = {
        "p.*.*": "p.{{partition(5,1,2)}}.$2",
        "s.*": "s.{{split(1,-)}}",
        "lit": "lit.x",
        "f.>": "g.>",
    }
    small = compile_mappings(section, functions, cache_size=3)
    none = compile_mappings(section, functions, cache_size=0)
    subjects = [b"p.a.b", b"s.a-b", b"s.--", b"lit", b"f.1.2", b"other", b"p.c.d", b"p.a.b"]
    for subject in subjects * 3:
        assert small.map(subject) == none.map(subject), subject
    assert small.map.__name__ == "cached_map" and none.map.__name__ == "map_subject"


def test_random_and_weighted_mappings_are_never_memoised(functions) -> None:
    rand = compile_mappings({"r": "r.{{random(5)}}"}, functions)
    assert len({rand.map(b"r") for _ in range(200)}) > 1
    section = {"w": [{"dest": "w.a", "weight": 50}], "x": "y"}
    weighted = compile_mappings(section, functions, rng=random.Random(4))
    assert {weighted.map(b"w") for _ in range(200)} == {b"w", b"w.a"}
    # Not pure, so a run of messages on one subject is mapped message by message.
    assert not rand.pure and not weighted.pure
    assert compile_mappings({"a.*": "b.$1", "x": "y"}, functions).pure


def test_ops_not_marked_pure_run_for_every_message(functions_with) -> None:
    calls = []

    class Count:
        name = "count"

        def compile(self, args, wildcard_count):
            def op(tokens, wildcards):
                calls.append(1)
                return str(len(calls)).encode()

            return op

    class CountPlugin:
        @hookimpl
        def register_mapping_functions(self, register):
            register("count", Count())

    table = compile_mappings({"c": "c.{{count()}}"}, functions_with(CountPlugin()))
    assert [table.map(b"c") for _ in range(3)] == [b"c.1", b"c.2", b"c.3"]
    assert not table.pure
