"""In-process checks of the pieces with many cases: templates, units, headers, contexts."""

from __future__ import annotations

import re

import pytest

from natskern.cli.context import Context, go_json, valid_name
from natskern.cli.output import body_bytes, go_quote
from natskern.cli.templates import TemplateError, expand, expand_or_raw, parse_headers
from natskern.cli.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("n={{Count}}", "n=7"),
        ("n={{.Count}} {{ Cnt }} {{.Cnt}}", "n=7 7 7"),
        ("plain", "plain"),
        ("a {{- Count -}} b", "a7b"),
        ("{{/* comment */}}x", "x"),
    ],
)
def test_template_values(template, expected):
    assert expand(template, 7) == expected


def test_template_time_and_ids():
    out = expand("{{Unix}}|{{UnixNano}}|{{TimeStamp}}|{{Time}}|{{ID}}|{{UUID}}", 1)
    unix, nano, stamp, kitchen, nuid, uuid = out.split("|")
    assert abs(int(nano) // 1_000_000_000 - int(unix)) <= 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", stamp)
    assert re.fullmatch(r"1?\d:\d\d(AM|PM)", kitchen)
    assert re.fullmatch(r"[0-9A-Za-z]{22}", nuid)
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid)
    assert expand("{{ID}}", 1) != expand("{{ID}}", 1)


def test_random_lengths():
    lengths = {len(expand("{{ Random 2 5 }}", 1)) for _ in range(200)}
    assert lengths <= {2, 3, 4, 5} and len(lengths) > 1
    assert re.fullmatch(r"[a-zA-Z0-9]{8}", expand("{{Random 8 8}}", 1))


def test_request_function_only_with_a_request():
    assert expand("{{Request}}/{{.Request}}", 0, "ping") == "ping/ping"
    assert expand("[{{.Request}}]", 0, "") == "[]"
    with pytest.raises(TemplateError, match='function "Request" not defined'):
        expand("{{Request}}", 0, "")


@pytest.mark.parametrize("bad", ["{{Nope}}", "{{.Nope}}", "{{Random 1}}", "{{Count", "{{}}"])
def test_template_errors_send_raw_text(bad, capsys):
    with pytest.raises(TemplateError):
        expand(bad, 1)
    assert expand_or_raw(bad, 1) == bad
    assert "Could not parse body template" in capsys.readouterr().err


def test_parse_headers():
    assert parse_headers(["A: 1", " B :x:y", "C:{{Count}}"], 3) == {"A": "1", "B": "x:y", "C": "3"}
    assert parse_headers([], 1) is None
    for bad in ("nocolon", "sp ace:v", ":v"):
        with pytest.raises(ValueError, match="invalid header"):
            parse_headers([bad], 1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("300ms", 0.3), ("1m30s", 90.0), ("1.5h", 5400.0), ("2", 2.0), ("-1", -1.0),
     ("1d", 86400.0), ("250us", 0.00025)],
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "s", "1x", "1s2", "abc"])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("128", 128), ("128B", 128), ("1KB", 1024), ("2MiB", 2 << 20), ("1g", 1 << 30)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_format_duration():
    assert format_duration(0.0012345) == "1.234ms"
    assert format_duration(123) == "2m3s"
    assert format_duration(2e-6) == "2µs"


def test_body_and_quote_shapes():
    assert body_bytes(b"hello") == b"hello\n\n\n"
    assert body_bytes(b"hello\n") == b"hello\n\n"
    assert body_bytes(b"") == b"nil body\n\n\n"
    assert go_quote('a"b\n') == '"a\\"b\\n"'


def test_context_json_is_go_shaped():
    ctx = Context("x", {"description": "<&>", "extra": 1})
    text = ctx.to_json()
    assert text.startswith('{\n  "description": "\\u003c\\u0026\\u003e",\n  "url": ""')
    assert text.endswith('"windows_ca_certs_match": null,\n  "extra": 1\n}')
    assert go_json({"a": "é"}) == '{\n  "a": "é"\n}'
    assert not valid_name("a/b") and not valid_name("..x") and valid_name("nats_dev")
