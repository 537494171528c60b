"""The subject functions of imports, checked directly (nats-server's results as expectations)."""

from __future__ import annotations

import pytest
from natskern.kernel.subjects.transform import MappingFunction
from natskern.plugins.accounts.transforms import (
    TransformError,
    local_pattern,
    service_mapping,
    stream_transform,
)
from natskern.plugins.mappers.wildcard import WildcardFunction

FUNCTIONS: dict[str, MappingFunction] = {"wildcard": WildcardFunction()}


@pytest.mark.parametrize(
    ("subject", "prefix", "to", "published", "delivered"),
    [
        ("x.>", "p", "", b"x.a.b", b"p.x.a.b"),
        ("x.>", "p.", "", b"x.a", b"p.x.a"),
        ("x.>", "p", "q.>", b"x.a", b"p.x.a"),  # the prefix wins, as in nats-server
        ("x.a.>", "", "q.>", b"x.a.b.c", b"q.b.c"),
        ("y.*.*", "", "yy.$2.{{wildcard(1)}}", b"y.1.2", b"yy.2.1"),
        ("lit", "", "other.lit", b"lit", b"other.lit"),
    ],
)
def test_stream_transform(
    subject: str, prefix: str, to: str, published: bytes, delivered: bytes
) -> None:
    transform = stream_transform(subject, prefix, to, FUNCTIONS)
    assert transform is not None
    assert transform(published) == delivered


def test_stream_import_without_rename_has_no_transform() -> None:
    assert stream_transform("x.>", "", "", FUNCTIONS) is None
    assert stream_transform("x.>", "", "x.>", FUNCTIONS) is None


@pytest.mark.parametrize(
    ("remote", "to", "local", "published", "forwarded"),
    [
        ("svc.>", "local.>", "local.>", b"local.a.b", b"svc.a.b"),
        ("t.*.*", "tt.$2.$1", "tt.*.*", b"tt.1.2", b"t.2.1"),
        ("t.*.*", "tt.{{wildcard(2)}}.*", "tt.*.*", b"tt.1.2", b"t.2.1"),
        ("u.*", "uu.*", "uu.*", b"uu.9", b"u.9"),
        ("lit", "mylit", "mylit", b"mylit", b"lit"),
        ("a.*.b.>", "c.$1.>", "c.*.>", b"c.1.x.y", b"a.1.b.x.y"),
    ],
)
def test_service_mapping(
    remote: str, to: str, local: str, published: bytes, forwarded: bytes
) -> None:
    pattern, transform = service_mapping(remote, to, FUNCTIONS)
    assert pattern == local
    assert transform is not None
    assert transform(published) == forwarded


@pytest.mark.parametrize(
    ("remote", "to", "reason"),
    [
        ("x.*", "q", "not using all of the token wildcard(s) in q"),
        ("x.*", "y.$2", "wildcard index out of range in $2"),
        ("x.*", "y.>", "invalid subject"),
        ("x", "y.*", "not using all of the token wildcard(s)"),
        ("x.*.*", "y.$1.$1", "used twice"),
        ("x.*", "y.{{partition(2,1)}}", "only $N"),
    ],
)
def test_service_mapping_refusals(remote: str, to: str, reason: str) -> None:
    with pytest.raises(TransformError) as info:
        service_mapping(remote, to, FUNCTIONS)
    assert reason in str(info.value)


def test_service_import_without_to_subscribes_the_exported_subject() -> None:
    assert service_mapping("svc.>", "", FUNCTIONS) == ("svc.>", None)


@pytest.mark.parametrize(
    ("subject", "prefix", "to", "pattern"),
    [
        ("x.>", "p", "", "p.x.>"),
        ("x.*", "", "", "x.*"),
        ("y.*.*", "", "yy.$2.{{wildcard(1)}}", "yy.*.*"),
    ],
)
def test_local_pattern(subject: str, prefix: str, to: str, pattern: str) -> None:
    assert local_pattern(subject, prefix, to) == pattern
