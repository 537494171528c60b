"""Differential tests: what a server delivers equals what the compiled mappings compute.

Each test starts the target (``nats-server`` and, once installed, ``natskern-server``)
with a ``mappings`` section, publishes thousands of random subjects through nats-py and
compares the subject every message arrived on with ``MappingTable.apply`` for the same
subject: partition numbers included, split results a server drops included.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from typing import Any

from natskern.kernel.subjects.transform import DROP, MappingError
from natskern.plugins.mappers.table import compile_mappings

# Functions and shapes every nats-server since 2.9 accepts (2.9 also insists that every
# source wildcard appears in the destination).
CLASSIC: dict[str, Any] = {
    "lit": "lit.mapped",
    "w.*.*": "w.{{wildcard(2)}}.{{wildcard(1)}}",
    "d.*.*.*": "d.$3.$1.$2",
    "fw.>": "gw.>",
    "fx.*.>": "fy.{{ wildcard(1) }}.>",
    "p.*.*": "p.{{partition(7,1,2)}}.$1.$2",
    "q.*.*.*": "q.{{partition(3,3)}}.{{Partition(1000, 1, 3)}}.$1.$2.$3",
    "pf.*.>": "pf.{{partition(5,1)}}.$1.>",
    "sp.*": "sp.{{split(1,-)}}",
    "sx.*.*": "sx.{{split(2,ab)}}.$1",
    "sl.*": "sl.{{splitFromLeft(1,3)}}",
    "sr.*": "sr.{{SplitFromRight(1,3)}}",
    "cl.*": "cl.{{sliceFromLeft(1,2)}}",
    "cr.*": "cr.{{sliceFromRight(1,3)}}",
}

# Functions added after nats-server 2.9 (left, right, random, partition of the whole
# subject); an older server refuses them and the test is skipped there.
MODERN: dict[str, Any] = {
    "lf.*": "lf.{{left(1,3)}}",
    "rt.*": "rt.{{right(1,2)}}",
    "pw.*": "pw.{{partition(6)}}.$1",
}

# Characters a token may hold on the wire (no whitespace, no '.'), weighted towards the
# ones the functions care about.
_CHARS = "abcxyz019-" * 6 + "ab--" * 4 + "_:=+%@!~#/$'\"{}()[]<>,;?^`|&\\"


def _token(rng: random.Random) -> str:
    while True:
        token = "".join(rng.choice(_CHARS) for _ in range(rng.randint(1, 12)))
        if token not in ("*", ">"):
            return token


def random_subjects(mappings: Mapping[str, Any], per_source: int, seed: int) -> list[str]:
    """Subjects matching each source, plus near misses that must pass unchanged."""
    rng = random.Random(seed)
    subjects = []
    for source in mappings:
        tokens = source.split(".")
        for _ in range(per_source):
            out = []
            for t in tokens:
                if t == "*":
                    out.append(_token(rng))
                elif t == ">":
                    out.extend(_token(rng) for _ in range(rng.randint(1, 3)))
                else:
                    out.append(t)
            subjects.append(".".join(out))
        # Near misses: one token fewer, one more, and a changed first literal.
        filled = [_token(rng) if t in ("*", ">") else t for t in tokens]
        if len(filled) > 1:
            subjects.append(".".join(filled[:-1]))
        subjects.append(".".join([*filled, "extra"]))
        subjects.append(".".join(["nomatch", *filled[1:]]))
    rng.shuffle(subjects)
    return subjects


def expected_subjects(mappings: Mapping[str, Any], subjects: list[str], functions) -> list:
    """What a server should deliver each subject as, per the compiled mappings."""
    table = compile_mappings(mappings, functions)
    out: list[str | None] = []
    for subject in subjects:
        mapped = table.apply(subject.encode())
        if mapped is None:
            out.append(subject)
        else:
            out.append(None if mapped == DROP else mapped.decode())
    return out


def _mismatches(subjects: list[str], got: list, want: list) -> list[str]:
    return [
        f"{s!r}: server {g!r}, compiled {w!r}"
        for s, g, w in zip(subjects, got, want, strict=True)
        if g != w
    ]


async def test_classic_functions_agree_with_server(serve, collect, functions) -> None:
    subjects = random_subjects(CLASSIC, per_source=250, seed=5)
    want = expected_subjects(CLASSIC, subjects, functions)
    async with serve(CLASSIC) as url:
        got = await collect(url, subjects)
    bad = _mismatches(subjects, got, want)
    assert not bad, f"{len(bad)} of {len(subjects)} differ, e.g. {bad[:8]}"
    # The run exercised what it claims to: partitions, drops and pass-throughs all occur.
    pairs = zip(subjects, got, strict=True)
    partitions = {g.split(".")[1] for s, g in pairs if s.startswith("p.") and s.count(".") == 2}
    assert partitions == {str(i) for i in range(7)}
    assert None in got
    assert any(s.startswith("nomatch.") for s in got if s)


async def test_modern_functions_agree_with_server(serve, collect, functions) -> None:
    subjects = random_subjects(MODERN, per_source=300, seed=7)
    want = expected_subjects(MODERN, subjects, functions)
    async with serve(MODERN, skip_if_rejected=True) as url:
        got = await collect(url, subjects)
    bad = _mismatches(subjects, got, want)
    assert not bad, f"{len(bad)} of {len(subjects)} differ, e.g. {bad[:8]}"


async def test_random_function_stays_in_range(serve, collect, functions) -> None:
    mappings = {"rn.*": "rn.{{random(4)}}.$1"}
    subjects = [f"rn.k{i}" for i in range(400)]
    async with serve(mappings, skip_if_rejected=True) as url:
        got = await collect(url, subjects)
    seen = Counter()
    for subject, arrived in zip(subjects, got, strict=True):
        prefix, number, rest = arrived.split(".")
        assert (prefix, rest) == ("rn", subject.split(".")[1])
        seen[number] += 1
    assert set(seen) == {"0", "1", "2", "3"}


WEIGHTED: dict[str, Any] = {
    # Sums to 80: the remaining 20 % keep their subject.
    "wt.*": [
        {"destination": "wt.a.$1", "weight": 50},
        {"destination": "wt.b.{{wildcard(1)}}", "weight": "30%"},
    ],
    # The source is listed itself, so the remaining 25 % are dropped.
    "wd": [{"destination": "wd", "weight": 40}, {"destination": "wd.x", "weight": 35}],
}


def _shares(outcomes: list, n: int) -> dict[Any, float]:
    return {k: 100 * v / n for k, v in Counter(outcomes).items()}


async def test_weighted_splits_match_configured_weights(serve, collect, functions) -> None:
    n = 3000
    subjects = [f"wt.k{i % 50}" for i in range(n)] + ["wd"] * n
    async with serve(WEIGHTED) as url:
        got = await collect(url, subjects)

    def kind(subject: str, arrived: str | None) -> str:
        if arrived is None:
            return "dropped"
        key = subject.split(".")[-1]
        table = {f"wt.a.{key}": "a", f"wt.b.{key}": "b", subject: "same", "wd.x": "x"}
        return table[arrived]

    wt = _shares([kind(s, g) for s, g in zip(subjects[:n], got[:n], strict=True)], n)
    wd = _shares([kind(s, g) for s, g in zip(subjects[n:], got[n:], strict=True)], n)
    # 3000 draws: one standard deviation is under 1 point; 5 points is far beyond chance.
    for shares, weights in ((wt, {"a": 50, "b": 30, "same": 20}), (wd, {"same": 40, "x": 35})):
        for key, weight in weights.items():
            assert abs(shares.get(key, 0) - weight) < 5, (key, shares)
    assert abs(wd.get("dropped", 0) - 25) < 5, wd

    # The compiled weighted mappings split the same way (seeded, so exact counts).
    table = compile_mappings(WEIGHTED, functions, rng=random.Random(3))
    ours = Counter(table.map(b"wd") for _ in range(n))
    assert abs(100 * ours[b"wd"] / n - 40) < 5
    assert abs(100 * ours[b"wd.x"] / n - 35) < 5
    assert abs(100 * ours[DROP] / n - 25) < 5


# (name, mappings) that nats-server 2.9 and our compiler both refuse at start-up.
INVALID: list[tuple[str, dict[str, Any]]] = [
    ("unknown function", {"a.*": "b.{{nosuch(1)}}"}),
    ("wildcard index out of range", {"a.*": "b.{{wildcard(2)}}"}),
    ("legacy index out of range", {"a.*.*": "b.$3.$1.$2"}),
    ("partition token out of range", {"a.*": "b.{{partition(3,2)}}.$1"}),
    ("no wildcard argument", {"a.*": "b.{{wildcard()}}"}),
    ("argument not a number", {"a.*": "b.{{splitFromLeft(1,x)}}"}),
    ("too many arguments", {"a.*": "b.{{sliceFromLeft(1,2,3)}}"}),
    ("split separator with a space", {"a.*": "b.{{split(1,a b)}}"}),
    ("'>' only in the source", {"a.>": "b"}),
    ("'>' only in the destination", {"a": "b.>"}),
    ("'*' in the destination", {"a.*": "b.*"}),
    ("empty destination token", {"a.*": "b..$1"}),
    ("weights over 100", {"a": [{"dest": "b", "weight": 60}, {"dest": "c", "weight": 50}]}),
    ("weight over 100", {"a": [{"dest": "b", "weight": 160}]}),
    ("duplicate destination", {"a": [{"dest": "b", "weight": 10}, {"dest": "b", "weight": 20}]}),
]


async def test_invalid_mappings_are_rejected_by_both(rejects, functions) -> None:
    for name, mappings in INVALID:
        try:
            compile_mappings(mappings, functions)
        except MappingError:
            pass
        else:
            raise AssertionError(f"compiler accepted {name}: {mappings}")
        assert await rejects(mappings) is not None, f"server accepted {name}: {mappings}"
