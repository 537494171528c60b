"""Unit and property tests for natskern.kernel.subjects.tokens (edge cases follow nats-server 2.9)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from natskern.kernel.subjects.tokens import (
    is_literal,
    is_subset,
    is_valid_literal_subject,
    is_valid_queue_name,
    is_valid_subject,
    matches,
    subjects_collide,
)

# -- validity -------------------------------------------------------------------------------

VALID = [
    b"foo",
    b"foo.bar",
    b"*",
    b">",
    b"foo.*",
    b"foo.>",
    b"*.*.*",
    b"foo.*.>",
    b"foo.*bar",  # '*' inside a token is literal text
    b"foo.>>",  # so is '>>'
    b"a*.b>",
    b"$JS.API.STREAM.INFO.x",
    b"_INBOX.abc.1",
    b"foo.b\x0br",  # vertical tab is not one of the rejected whitespace bytes
    b"a\x00b",
    b"\xff\xfe.caf\xc3\xa9",
]

INVALID = [
    b"",
    b".",
    b"foo..bar",
    b".foo",
    b"foo.",
    b">.foo",
    b"foo.>.bar",
    b"foo bar",
    b"foo\tbar",
    b"foo\rbar",
    b"foo\nbar",
    b"foo\fbar",
    b" ",
    b"foo.\t",
]


@pytest.mark.parametrize("subject", VALID)
def test_valid_subjects(subject: bytes) -> None:
    assert is_valid_subject(subject)


@pytest.mark.parametrize("subject", INVALID)
def test_invalid_subjects(subject: bytes) -> None:
    assert not is_valid_subject(subject)
    assert not is_valid_literal_subject(subject)


@pytest.mark.parametrize(
    ("subject", "literal"),
    [
        (b"foo", True),
        (b"foo.bar", True),
        (b"foo.*bar", True),
        (b"foo.>>", True),
        (b"a*.>b", True),
        (b"*", False),
        (b">", False),
        (b"foo.*", False),
        (b"*.foo", False),
        (b"foo.*.bar", False),
        (b"foo.>", False),
    ],
)
def test_is_literal(subject: bytes, literal: bool) -> None:
    assert is_literal(subject) is literal
    assert is_valid_literal_subject(subject) is literal


@pytest.mark.parametrize(
    ("queue", "valid"),
    [
        (b"workers", True),
        (b"q.*", True),  # nats-server accepts wildcard-looking queue names as plain names
        (b">", True),
        (b"q..x", True),
        (b"", False),
        (b"a b", False),
        (b"a\tb", False),
        (b"a\r\n", False),
        (b"a\fb", False),
    ],
)
def test_is_valid_queue_name(queue: bytes, valid: bool) -> None:
    assert is_valid_queue_name(queue) is valid


# -- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        (b"foo", b"foo", True),
        (b"foo", b"bar", False),
        (b"foo.bar", b"foo", False),
        (b"*", b"foo", True),
        (b"*", b"foo.bar", False),
        (b">", b"foo", True),
        (b">", b"foo.bar.baz", True),
        (b"foo.*", b"foo.bar", True),
        (b"foo.*", b"foo", False),
        (b"foo.*", b"foo.bar.baz", False),
        (b"foo.>", b"foo", False),
        (b"foo.>", b"foo.bar", True),
        (b"foo.>", b"foo.bar.baz", True),
        (b"*.bar", b"foo.bar", True),
        (b"*.bar", b"foo.baz", False),
        (b"foo.*.baz", b"foo.x.baz", True),
        (b"foo.*.>", b"foo.x", False),
        (b"foo.*.>", b"foo.x.y.z", True),
        (b"foo.*bar", b"foo.xbar", False),  # literal '*bar', not a wildcard
        (b"foo.*bar", b"foo.*bar", True),
        (b"foo.*", b"foo.", False),  # a wildcard never matches an empty token
        (b"foo.>", b"foo..x", False),
        (b"Foo", b"foo", False),  # case-sensitive
    ],
)
def test_matches(pattern: bytes, subject: bytes, expected: bool) -> None:
    assert matches(pattern, subject) is expected


def _naive_matches(pattern: bytes, subject: bytes) -> bool:
    """Recursive definition of wildcard matching, written independently of the code."""

    def go(p: list[bytes], s: list[bytes]) -> bool:
        if not p:
            return not s
        if p[0] == b">":
            return len(s) >= 1
        if not s:
            return False
        return (p[0] == b"*" or p[0] == s[0]) and go(p[1:], s[1:])

    return go(pattern.split(b"."), subject.split(b"."))


LITERAL_TOKENS = [b"a", b"b", b"ab"]
literal_token = st.sampled_from(LITERAL_TOKENS)
pattern_token = st.sampled_from([*LITERAL_TOKENS, b"*"])


@st.composite
def patterns(draw: st.DrawFn) -> bytes:
    """A valid subscription subject over a small alphabet (so matches and collisions happen)."""
    tokens = draw(st.lists(pattern_token, min_size=1, max_size=4))
    if draw(st.booleans()):
        tokens[-1] = b">"
    return b".".join(tokens)


literals = st.lists(literal_token, min_size=1, max_size=5).map(b".".join)


@given(patterns(), literals)
def test_matches_agrees_with_naive_definition(pattern: bytes, subject: bytes) -> None:
    assert matches(pattern, subject) == _naive_matches(pattern, subject)


# -- collide / subset -----------------------------------------------------------------------

# Every literal subject of 1..5 tokens over the pattern alphabet plus one token no pattern
# names: large enough to contain a witness for any collision or non-subset among patterns()
# (at most 4 tokens).
UNIVERSE = [
    b".".join(toks)
    for n in range(1, 6)
    for toks in itertools.product([*LITERAL_TOKENS, b"zz"], repeat=n)
]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (b"foo", b"foo", True),
        (b"foo", b"bar", False),
        (b"foo.*", b"foo.bar", True),
        (b"foo.*", b"*.bar", True),
        (b"foo.*", b"bar.*", False),
        (b"foo.*", b"foo.>", True),
        (b"foo.>", b"*.*.baz", True),
        (b"foo.*", b"foo.*.*", False),
        (b"foo.*", b"foo.*.>", False),  # older nats-server releases said these collide
        (b">", b"foo", True),
        (b">", b"*", True),
        (b"*", b"foo.bar", False),
        (b"foo.bar.>", b"foo.*", False),
        (b"*.*", b"a.>", True),
    ],
)
def test_subjects_collide(a: bytes, b: bytes, expected: bool) -> None:
    assert subjects_collide(a, b) is expected
    assert subjects_collide(b, a) is expected


@given(patterns(), patterns())
def test_subjects_collide_agrees_with_brute_force(a: bytes, b: bytes) -> None:
    witness = any(matches(a, s) and matches(b, s) for s in UNIVERSE)
    assert subjects_collide(a, b) == witness


@pytest.mark.parametrize(
    ("sub", "of", "expected"),
    [
        (b"foo.*", b">", True),
        (b"foo.*", b"*.*", True),
        (b"foo.*", b"foo.*", True),
        (b"foo.*", b"foo.>", True),
        (b"foo.*", b"foo.bar", False),
        (b"foo.*", b"foo.*.>", False),
        (b"foo.bar", b"foo.*", True),
        (b"foo.bar", b"foo.>", True),
        (b"foo.>", b"foo.*", False),
        (b"foo.>", b"foo.>", True),
        (b"foo.>", b">", True),
        (b">", b"foo.>", False),
        (b">", b"*", False),
        (b"foo.bar.>", b"foo.*.>", True),
        (b"foo.*.>", b"foo.bar.>", False),
        (b"foo", b"foo.>", False),
        (b"foo.bar", b"foo", False),
        (b"foo.*bar", b"foo.*", True),  # '*bar' is one literal token
    ],
)
def test_is_subset(sub: bytes, of: bytes, expected: bool) -> None:
    assert is_subset(sub, of) is expected


@given(patterns(), patterns())
def test_is_subset_agrees_with_brute_force(sub: bytes, of: bytes) -> None:
    counterexample = any(matches(sub, s) and not matches(of, s) for s in UNIVERSE)
    assert is_subset(sub, of) == (not counterexample)


@given(patterns())
def test_generated_patterns_are_valid_and_self_related(pattern: bytes) -> None:
    assert is_valid_subject(pattern)
    assert is_subset(pattern, pattern)
    assert subjects_collide(pattern, pattern)
    assert is_subset(pattern, b">")
