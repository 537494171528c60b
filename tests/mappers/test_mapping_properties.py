"""Property tests for the mapping compiler against a naive string interpreter.

The oracle below reads the destination per message with regexes and ``str`` operations,
following nats-server's loops step by step; the compiled token programs must agree with
it on every generated mapping and subject.
"""

from __future__ import annotations

import re
from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st
from natskern.kernel.subjects.tokens import is_valid_literal_subject
from natskern.kernel.subjects.transform import DROP, compile_mapping

# --------------------------------------------------------------------------- the oracle


def fnv(data: str) -> int:
    return reduce(lambda h, b: ((h ^ b) * 16777619) % 2**32, data.encode(), 2166136261)


def go_split(token: str, sep: str) -> str:
    parts = token.split(sep)
    out = ""
    for j, part in enumerate(parts):
        if part:
            out += part
        if j < len(parts) - 1 and parts[j + 1] and not (j == 0 and not part):
            out += "."
    return out


def go_slice_left(token: str, size: int) -> str:
    n = len(token)
    if not 0 < size < n:
        return token
    out = ""
    i = 0
    while i + size <= n:
        if i:
            out += "."
        out += token[i : i + size]
        if i + size != n and i + 2 * size > n:
            out += "." + token[i + size :]
            break
        i += size
    return out


def go_slice_right(token: str, size: int) -> str:
    n = len(token)
    if not 0 < size < n:
        return token
    rem = n % size
    out = token[:rem] + "." if rem else ""
    i = rem
    while i + size <= n:
        out += token[i : i + size]
        if i + size < n:
            out += "."
        i += size
    return out


def oracle(source: str, destination: str, subject: str) -> str | None:
    """The mapped subject, None when ``subject`` does not match, "" when dropped."""
    stoks, toks = source.split("."), subject.split(".")
    if stoks[-1] == ">":
        if len(toks) < len(stoks):
            return None
    elif len(toks) != len(stoks):
        return None
    if any(s not in ("*", ">") and s != t for s, t in zip(stoks, toks, strict=False)):
        return None
    wild = [t for s, t in zip(stoks, toks, strict=False) if s == "*"]
    out = []
    for d in destination.split("."):
        legacy = re.fullmatch(r"\$(\d+)", d)
        call = re.fullmatch(r"\{\{\s*(\w+)\s*\((.*)\)\s*\}\}", d)
        if d == ">":
            out.append(".".join(toks[len(stoks) - 1 :]))
        elif legacy:
            out.append(wild[int(legacy.group(1)) - 1])
        elif call:
            name = call.group(1).lower()
            args = [a.strip() for a in call.group(2).split(",")] if call.group(2).strip() else []
            if name == "partition":
                idx = [int(a) for a in args[1:]]
                key = "".join(wild[i - 1] for i in idx) if idx else subject
                out.append(str(fnv(key) % int(args[0])))
                continue
            token = wild[int(args[0]) - 1]
            if name == "wildcard":
                out.append(token)
            elif name == "split":
                out.append(go_split(token, args[1]))
            else:
                n = int(args[1])
                fits = 0 < n < len(token)
                if name == "splitfromleft":
                    out.append(token[:n] + "." + token[n:] if fits else token)
                elif name == "splitfromright":
                    cut = len(token) - n
                    out.append(token[:cut] + "." + token[cut:] if fits else token)
                elif name == "slicefromleft":
                    out.append(go_slice_left(token, n))
                elif name == "slicefromright":
                    out.append(go_slice_right(token, n))
                elif name == "left":
                    out.append(token[:n] if fits else token)
                elif name == "right":
                    out.append(token[len(token) - n :] if fits else token)
                else:
                    raise AssertionError(name)
        else:
            out.append(d)
    result = ".".join(out)
    return "" if "" in result.split(".") else result


# --------------------------------------------------------------------------- strategies

LITERALS = st.sampled_from(["a", "b", "orders", "x1"])
# Token text with the characters the functions act on; never "*" or ">" characters, so
# every valid input is a literal subject.
TOKEN_TEXT = st.text(alphabet="ab-x1_", min_size=1, max_size=9)


@st.composite
def sources(draw) -> str:
    tokens = draw(st.lists(st.one_of(LITERALS, st.just("*")), min_size=1, max_size=5))
    if draw(st.booleans()):
        tokens.append(">")
    return ".".join(tokens)


@st.composite
def destination_token(draw, wildcards: int) -> str:
    if wildcards == 0:
        return draw(
            st.one_of(LITERALS, st.integers(1, 50).map(lambda n: f"{{{{partition({n})}}}}"))
        )
    i = st.integers(1, wildcards)
    n = st.integers(-1, 6)
    kinds = [
        LITERALS,
        i.map(lambda k: f"${k}"),
        i.map(lambda k: f"{{{{wildcard({k})}}}}"),
        st.builds(
            lambda p, ks: f"{{{{partition({', '.join(map(str, [p, *ks]))})}}}}",
            st.integers(1, 50),
            st.lists(i, max_size=3),
        ),
        st.builds(
            lambda k, s: f"{{{{split({k},{s})}}}}", i, st.sampled_from(["-", "ab", "x", "--"])
        ),
    ]
    for name in ("splitFromLeft", "splitFromRight", "sliceFromLeft", "sliceFromRight"):
        kinds.append(st.builds(lambda k, v, f=name: f"{{{{{f}({k}, {v})}}}}", i, n))
    for name in ("left", "right"):
        kinds.append(st.builds(lambda k, v, f=name: f"{{{{{f}({k},{v})}}}}", i, n))
    return draw(st.one_of(kinds))


@st.composite
def mappings(draw) -> tuple[str, str]:
    source = draw(sources())
    wildcards = source.split(".").count("*")
    tokens = draw(st.lists(destination_token(wildcards), min_size=1, max_size=5))
    if source.endswith(">"):
        tokens.append(">")
    return source, ".".join(tokens)


def fill(data: st.DataObject, source: str) -> str:
    out = []
    for token in source.split("."):
        if token == "*":
            out.append(data.draw(TOKEN_TEXT))
        elif token == ">":
            out.extend(data.draw(st.lists(TOKEN_TEXT, min_size=1, max_size=3)))
        else:
            out.append(token)
    return ".".join(out)


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(mapping=mappings(), data=st.data())
def test_compiled_programs_agree_with_the_oracle(mapping, data, functions) -> None:
    source, destination = mapping
    transform = compile_mapping(source, destination, functions)
    for _ in range(5):
        subject = fill(data, source)
        got = transform.apply(subject.encode())
        want = oracle(source, destination, subject)
        assert got is not None and got.decode() == want, (source, destination, subject)


@settings(max_examples=100, deadline=None)
@given(mapping=mappings(), data=st.data())
def test_output_is_a_valid_literal_subject_or_dropped(mapping, data, functions) -> None:
    source, destination = mapping
    transform = compile_mapping(source, destination, functions)
    subject = fill(data, source)
    assert is_valid_literal_subject(subject.encode())
    got = transform.apply(subject.encode())
    assert got == DROP or is_valid_literal_subject(got), (source, destination, subject, got)
    if got == DROP:
        assert "split(" in destination  # only split can produce an undeliverable subject


@settings(max_examples=100, deadline=None)
@given(mapping=mappings(), data=st.data())
def test_subjects_that_do_not_match_are_left_alone(mapping, data, functions) -> None:
    source, destination = mapping
    transform = compile_mapping(source, destination, functions)
    subject = fill(data, source)
    tokens = subject.split(".")
    misses = [".".join([*tokens[:-1]]) if len(tokens) > 1 else None]
    if not source.endswith(">"):
        misses.append(subject + ".extra")
    literal_at = [i for i, t in enumerate(source.split(".")) if t not in ("*", ">")]
    if literal_at:
        changed = list(tokens)
        changed[literal_at[0]] += "zz"
        misses.append(".".join(changed))
    for miss in misses:
        if miss is not None and oracle(source, destination, miss) is None:
            assert transform.apply(miss.encode()) is None, miss


@settings(max_examples=200, deadline=None)
@given(perm=st.permutations(range(1, 6)), data=st.data())
def test_wildcard_reorders_are_invertible(perm, data, functions) -> None:
    k = data.draw(st.integers(1, 5))
    order = [i for i in perm if i <= k]
    inverse = [order.index(i) + 1 for i in range(1, k + 1)]
    source = "r" + ".*" * k
    forward = compile_mapping(source, "r." + ".".join(f"${i}" for i in order), functions)
    back = compile_mapping(
        source, "r." + ".".join(f"{{{{wildcard({i})}}}}" for i in inverse), functions
    )
    subject = fill(data, source).encode()
    assert back.apply(forward.apply(subject)) == subject


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 5000), tokens=st.lists(TOKEN_TEXT, min_size=2, max_size=2))
def test_partition_is_in_range_and_deterministic(n, tokens, functions) -> None:
    transform = compile_mapping("p.*.*", f"{{{{partition({n},2,1)}}}}.$1", functions)
    subject = ("p." + ".".join(tokens)).encode()
    first = transform.apply(subject)
    number, rest = first.split(b".", 1)
    assert 0 <= int(number) < n
    assert rest == tokens[0].encode()
    assert int(number) == fnv(tokens[1] + tokens[0]) % n
    assert transform.apply(subject) == first
    again = compile_mapping("p.*.*", f"{{{{partition({n},2,1)}}}}.$1", functions)
    assert again.apply(subject) == first
