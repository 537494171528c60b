"""Weighted destinations: validation, remainder handling and the split itself (seeded)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from natskern.kernel.subjects.transform import (
    DROP,
    MappingError,
    SubjectTransform,
    WeightedTransform,
    compile_weighted,
    parse_weight,
)

DRAWS = 20000


def shares(transform, subject: bytes) -> dict[bytes, float]:
    counts = Counter(transform.apply(subject) for _ in range(DRAWS))
    return {k: 100 * v / DRAWS for k, v in counts.items()}


def test_single_full_weight_destination_is_a_plain_transform(functions) -> None:
    t = compile_weighted("a.*", [("b.$1", 100)], functions)
    assert isinstance(t, SubjectTransform)
    assert t.apply(b"a.x") == b"b.x"


def test_split_follows_the_weights(functions) -> None:
    t = compile_weighted(
        "orders.*",
        [("v1.$1", 70), ("v2.$1", "20%"), ("v3.$1", 10)],
        functions,
        rng=random.Random(1),
    )
    assert isinstance(t, WeightedTransform)
    got = shares(t, b"orders.42")
    assert set(got) == {b"v1.42", b"v2.42", b"v3.42"}
    for subject, weight in ((b"v1.42", 70), (b"v2.42", 20), (b"v3.42", 10)):
        assert abs(got[subject] - weight) < 1.5, got


def test_remainder_keeps_the_subject(functions) -> None:
    t = compile_weighted("canary.*.>", [("canary.new.$1.>", 25)], functions, rng=random.Random(2))
    got = shares(t, b"canary.eu.a.b")
    assert set(got) == {b"canary.new.eu.a.b", b"canary.eu.a.b"}
    assert abs(got[b"canary.new.eu.a.b"] - 25) < 1.5


def test_remainder_is_dropped_when_the_source_is_listed(functions) -> None:
    t = compile_weighted("bar", [("bar", 30), ("bar.v2", 20)], functions, rng=random.Random(3))
    got = shares(t, b"bar")
    assert set(got) == {b"bar", b"bar.v2", DROP}
    assert abs(got[DROP] - 50) < 1.5
    assert abs(got[b"bar"] - 30) < 1.5


def test_zero_weights(functions) -> None:
    never = compile_weighted("z", [("z.never", 0), ("z.always", 100)], functions)
    assert {never.apply(b"z") for _ in range(500)} == {b"z.always"}
    # Nothing weighted at all: like nats-server, everything keeps its subject.
    idle = compile_weighted("y.*", [("y.new.$1", 0)], functions)
    assert {idle.apply(b"y.k") for _ in range(500)} == {b"y.k"}


def test_non_matching_subjects_return_none(functions) -> None:
    t = compile_weighted("bar.*", [("bar.$1.x", 50)], functions)
    assert t.apply(b"baz.1") is None
    assert t.apply(b"bar.1.2") is None
    dropping = compile_weighted("bar", [("bar", 10)], functions)
    assert dropping.apply(b"other") is None


@pytest.mark.parametrize(
    ("destinations", "message"),
    [
        ([], "no destination"),
        ([("a", 60), ("b", 50)], "add up to more than 100"),
        ([("a", 10), ("a", 10)], "listed twice"),
        ([("a", 101)], "not between 0 and 100"),
        ([("a", -1)], "not between 0 and 100"),
        ([("a", "ten")], "integer percentage"),
        ([("a", True)], "integer percentage"),
        ([("a", 2.5)], "integer percentage"),
        ([("a",)], "is not (destination, weight)"),
        ([("a.{{nosuch()}}", 10)], "unknown mapping function"),
    ],
)
def test_invalid_weighted_mappings(destinations, message, functions) -> None:
    with pytest.raises(MappingError) as info:
        compile_weighted("src", destinations, functions)
    assert message in str(info.value)
    assert "'src'" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (100, 100), ("80", 80), ("80%", 80), (" 5 % ", 5)]
)
def test_parse_weight(value, expected) -> None:
    assert parse_weight(value) == expected
