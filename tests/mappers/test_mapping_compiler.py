"""The mapping compiler and the built-in functions, on examples checked against nats-server.

Every expected subject below was observed on nats-server 2.9.10 (or, for functions it does
not have, follows the later server's documented behaviour).
"""

from __future__ import annotations

import pytest
from natskern.kernel.errors import PluginError
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.subjects.transform import DROP, MappingError, compile_mapping, wildcard_index
from natskern.plugins.mappers.partition import fnv1a_32


def apply(source: str, destination: str, subject: str, functions) -> bytes | None:
    return compile_mapping(source, destination, functions).apply(subject.encode())


@pytest.mark.parametrize(
    ("source", "destination", "subject", "expected"),
    [
        ("w.*.*", "w.{{wildcard(2)}}.{{wildcard(1)}}", "w.a.b", "w.b.a"),
        ("w.*.*", "w.{{ wildcard( 2 ) }}.{{wildcard(1)}}", "w.a.b", "w.b.a"),
        ("d.*.*", "d.$2.$1", "d.a.b", "d.b.a"),
        ("d.*.*", "x.$1.$1.$2", "d.a.b", "x.a.a.b"),
        ("foo", "bar", "foo", "bar"),
        ("f.>", "g.>", "f.a.b.c", "g.a.b.c"),
        ("fx.*.>", "fy.$1.>", "fx.a.b.c", "fy.a.b.c"),
        ("fx.*.>", ">", "fx.a.b.c", "b.c"),
        ("a.*.c", "b.$1.c", "a.x.c", "b.x.c"),
        ("sp.*", "sp.{{split(1,-)}}", "sp.a-b", "sp.a.b"),
        ("sp.*", "sp.{{split(1,-)}}", "sp.a--b-", "sp.a.b"),
        ("sp.*", "sp.{{split(1,-)}}", "sp.-a", "sp.a"),
        ("sp.*", "sp.{{split(1,-)}}", "sp.ab", "sp.ab"),
        ("sq.*", 'sq.{{split(1,"-")}}', 'sq.a"-"b', "sq.a.b"),  # quotes are part of sep
        ("sq.*", 'sq.{{split(1,"-")}}', "sq.a-b", "sq.a-b"),
        ("sl.*", "sl.{{splitFromLeft(1,2)}}", "sl.abcde", "sl.ab.cde"),
        ("sl.*", "sl.{{splitFromLeft(1,2)}}", "sl.ab", "sl.ab"),
        ("sl.*", "sl.{{splitFromLeft(1,-2)}}", "sl.abcde", "sl.abcde"),
        ("sr.*", "sr.{{splitFromRight(1,2)}}", "sr.abcde", "sr.abc.de"),
        ("sr.*", "sr.{{splitFromRight(1,2)}}", "sr.abc", "sr.a.bc"),
        ("cl.*", "cl.{{sliceFromLeft(1,2)}}", "cl.abcde", "cl.ab.cd.e"),
        ("cl.*", "cl.{{sliceFromLeft(1,2)}}", "cl.abcdef", "cl.ab.cd.ef"),
        ("cl.*", "cl.{{sliceFromLeft(1,2)}}", "cl.ab", "cl.ab"),
        ("cr.*", "cr.{{sliceFromRight(1,2)}}", "cr.abcde", "cr.a.bc.de"),
        ("cr.*", "cr.{{sliceFromRight(1,2)}}", "cr.abcdef", "cr.ab.cd.ef"),
        ("cr.*", "cr.{{sliceFromRight(1,0)}}", "cr.abcdef", "cr.abcdef"),
        ("l.*", "l.{{left(1,3)}}", "l.abcdef", "l.abc"),
        ("l.*", "l.{{left(1,9)}}", "l.abcdef", "l.abcdef"),
        ("r.*", "r.{{right(1,2)}}", "r.abcdef", "r.ef"),
        ("r.*", "r.{{right(1,0)}}", "r.abcdef", "r.abcdef"),
        ("p.*.*", "p.{{partition(7,1,2)}}.$1.$2", "p.x.y", "p.4.x.y"),
        ("p.*.*", "p.{{partition(7,1,2)}}.$1.$2", "p.a.b", "p.2.a.b"),
        ("p.*.*", "p.{{PARTITION(7, 2, 1)}}", "p.b.a", "p.2"),
    ],
)
def test_function_results(source, destination, subject, expected, functions) -> None:
    assert apply(source, destination, subject, functions) == expected.encode()


@pytest.mark.parametrize(
    ("source", "subject"),
    [
        ("w.*.*", "w.a"),
        ("w.*.*", "w.a.b.c"),
        ("w.*.*", "x.a.b"),
        ("a.*.c", "a.b.d"),
        ("f.>", "f"),
        ("f.>", "g.a"),
        ("fx.*.>", "fx.a"),
        ("foo", "foo.bar"),
        ("foo", "fo"),
    ],
)
def test_non_matching_subjects_are_not_mapped(source, subject, functions) -> None:
    destination = "mapped.>" if source.endswith(">") else "mapped"
    assert apply(source, destination, subject, functions) is None


def test_split_drops_what_nats_server_never_delivers(functions) -> None:
    # nats-server turns these into "sp." and "sp..b", which nobody can receive.
    t = compile_mapping("sp.*", "sp.{{split(1,-)}}", functions)
    assert t.apply(b"sp.-") == DROP
    assert t.apply(b"sp.--b") == DROP
    assert t.apply(b"sp.a--b") == b"sp.a.b"


def test_partition_is_fnv1a_of_the_concatenated_tokens(functions) -> None:
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968
    t = compile_mapping("o.*.*.*", "o.{{partition(1000,3,1)}}", functions)
    for subject in (b"o.cust1.x.eu", b"o.a.b.c", b"o.zzz.yy.x"):
        first, _, third = subject.split(b".")[1:]
        want = str(fnv1a_32(third + first) % 1000).encode()
        assert t.apply(subject) == b"o." + want
        assert t.apply(subject) == b"o." + want  # memoised result stays the same


def test_partition_without_tokens_hashes_the_whole_subject(functions) -> None:
    literal = compile_mapping("orders", "orders.{{partition(5)}}", functions)
    assert literal.apply(b"orders") == b"orders." + str(fnv1a_32(b"orders") % 5).encode()
    tail = compile_mapping("ev.>", "part.{{partition(9)}}.>", functions)
    want = str(fnv1a_32(b"ev.a.b.c") % 9).encode()
    assert tail.apply(b"ev.a.b.c") == b"part." + want + b".a.b.c"


def test_random_stays_in_range_and_needs_no_wildcard(functions) -> None:
    t = compile_mapping("jobs", "jobs.{{random(3)}}", functions)
    seen = {t.apply(b"jobs") for _ in range(300)}
    assert seen == {b"jobs.0", b"jobs.1", b"jobs.2"}


def test_unused_wildcards_are_allowed(functions) -> None:
    # nats-server 2.9 demands every wildcard in the destination; later servers do not.
    assert apply("a.*.*", "b.$2", "a.x.y", functions) == b"b.y"


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("a.*", "b.{{foo(1)}}", "unknown mapping function 'foo' in {{foo(1)}}"),
        ("a.*", "b.{{wildcard(2)}}", "wildcard index 2 out of range (the source has 1 wildcard)"),
        ("a.*", "b.$2", "wildcard index 2 out of range"),
        ("a.*", "b.$0", "wildcard index 0 out of range"),
        ("a", "b.{{wildcard(1)}}", "out of range (the source has 0 wildcards)"),
        ("a.*", "b.{{wildcard()}}", "wildcard takes one argument"),
        ("a.*", "b.{{wildcard(1,2)}}", "wildcard takes one argument"),
        ("a.*", "b.{{wildcard(x)}}", "wildcard index must be an integer, got 'x'"),
        ("a.*", "b.{{partition()}}", "partition needs the number of partitions"),
        ("a.*", "b.{{partition(0,1)}}", "number of partitions must be at least 1"),
        ("a.*", "b.{{partition(3,2)}}", "wildcard index 2 out of range"),
        ("a.*", "b.{{partition(99999999999,1)}}", "does not fit in 32 bits"),
        ("a.*", "b.{{split(1)}}", "split takes two arguments"),
        ("a.*", "b.{{split(1,a b)}}", "must be non-empty, without ' ' or '.'"),
        ("a.*", "b.{{split(1,)}}", "must be non-empty"),
        ("a.*", "b.{{splitFromLeft(1)}}", "splitFromLeft takes two arguments"),
        ("a.*", "b.{{sliceFromRight(1,x)}}", "size must be an integer"),
        ("a.*", "b.{{left(2,1)}}", "wildcard index 2 out of range"),
        ("a.*", "b.{{random(0)}}", "number of values must be at least 1"),
        ("a.*", "b.x{{wildcard(1)}}", "malformed function call 'x{{wildcard(1)}}'"),
        ("a.*", "b.{{wildcard(1)", "malformed function call"),
        ("a.*", "b.*", "may not contain '*'"),
        ("a.>", "b", "'>' in the source requires '>'"),
        ("a", "b.>", "'>' in the destination requires '>'"),
        ("a.*", "b..c", "has an empty token"),
        ("a..b", "c", "has an empty token"),
        ("a.>.b", "c.>", "'>' may only be the last token"),
        ("a b", "c", "contains whitespace"),
        ("a.*", "b c.$1", "contains whitespace"),
        ("", "c", "non-empty string"),
    ],
)
def test_invalid_mappings_name_the_problem(source, destination, message, functions) -> None:
    with pytest.raises(MappingError) as info:
        compile_mapping(source, destination, functions)
    text = str(info.value)
    assert message in text
    assert text.startswith(f"mapping {source!r} -> {destination!r}: ")


def test_function_names_are_case_insensitive(functions) -> None:
    mapped = apply("a.*", "b.{{WildCard(1)}}.{{SPLITFROMLEFT(1,1)}}", "a.xy", functions)
    assert mapped == b"b.xy.x.y"


# --------------------------------------------------------------------------- plugins


class Upper:
    """A third-party function: ``upper(N)`` upper-cases wildcard N."""

    name = "upper"

    def compile(self, args, wildcard_count):
        if len(args) != 1:
            raise MappingError("upper takes one argument")
        slot = wildcard_index(args[0], wildcard_count) - 1
        return lambda tokens, wildcards: tokens[wildcards[slot]].upper()


class UpperPlugin:
    @hookimpl
    def register_mapping_functions(self, register):
        register("upper", Upper())


class ShoutingWildcardPlugin:
    @hookimpl
    def register_mapping_functions(self, register):
        register("WILDCARD", Upper())


def test_builtin_functions_are_all_registered(functions) -> None:
    assert set(functions) == {
        "wildcard",
        "partition",
        "split",
        "splitfromleft",
        "splitfromright",
        "slicefromleft",
        "slicefromright",
        "left",
        "right",
        "random",
    }


def test_third_party_function_becomes_usable(functions_with) -> None:
    functions = functions_with(UpperPlugin())
    t = compile_mapping("u.*.*", "u.{{upper(2)}}.{{Upper(1)}}", functions)
    assert t.apply(b"u.ab.cd") == b"u.CD.AB"
    with pytest.raises(MappingError, match="upper takes one argument"):
        compile_mapping("u.*", "u.{{upper()}}", functions)


def test_duplicate_function_names_name_both_plugins(functions_with) -> None:
    with pytest.raises(PluginError) as info:
        functions_with(ShoutingWildcardPlugin())
    text = str(info.value)
    assert "mappers.wildcard" in text and "third-party-0" in text


def test_registering_an_object_without_compile_is_refused(functions_with) -> None:
    class Broken:
        @hookimpl
        def register_mapping_functions(self, register):
            register("broken", object())

    with pytest.raises(PluginError, match="'broken' without compile"):
        functions_with(Broken())
