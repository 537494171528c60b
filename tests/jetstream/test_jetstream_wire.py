# ruff: noqa: RUF009  (gofield is a dataclass field specifier)
"""Unit tests of the JetStream wire helpers, the Go JSON decoder and the error catalogue."""

from __future__ import annotations

import dataclasses
import json

import pytest
from natskern.kernel.durations import parse_duration_ns
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import BY_NAME, CATALOGUE, ApiError
from natskern.kernel.jetstream.godecode import BOOL, INT32, STRING, Struct, decode, gofield
from natskern.kernel.jetstream.gojson import GoJSONError, go_quote, parse, syntax_error
from natskern.kernel.jetstream.streamconfig import StreamConfig, decode_request
from natskern.kernel.jetstream.wire import (
    ZERO_TIME,
    dumps,
    format_time,
    go_duration,
    parse_go_time,
    response,
    time_ns,
    to_wire,
)


@pytest.mark.parametrize(
    "ns,text",
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (100_000_000, "100ms"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (900_000_000_000, "15m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_000, "1h2m3s"),
        (-2_000_000_000, "-2s"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize(
    "ns,text",
    [
        (0, ZERO_TIME),
        (1795808300469352290, "2026-11-27T19:38:20.46935229Z"),
        (1795808300000000000, "2026-11-27T19:38:20Z"),
        (1795808300000000001, "2026-11-27T19:38:20.000000001Z"),
    ],
)
def test_format_time(ns: int, text: str) -> None:
    assert format_time(ns) == text
    if ns:
        assert time_ns(text) == ns


def test_parse_go_time_keeps_offset() -> None:
    assert parse_go_time("2020-01-01T00:00:00.500+02:00") == "2020-01-01T00:00:00.5+02:00"
    assert parse_go_time("2020-01-01T00:00:00+00:00") == "2020-01-01T00:00:00Z"
    assert time_ns("2020-01-01T02:00:00+02:00") == time_ns("2020-01-01T00:00:00Z")


@pytest.mark.parametrize(
    "text,error",
    [
        ("x", 'cannot parse "x" as "2006"'),
        ("2020-01-01T00:00:00", 'cannot parse "" as "Z07:00"'),
        ("2020/01/01T00:00:00Z", 'cannot parse "/01/01T00:00:00Z" as "-"'),
        ("2020-13-01T00:00:00Z", "month out of range"),
        ("2021-02-29T00:00:00Z", "day out of range"),
        ("2020-01-01T00:00:00Zx", 'extra text: "x"'),
    ],
)
def test_parse_go_time_errors(text: str, error: str) -> None:
    with pytest.raises(GoJSONError, match=error):
        parse_go_time(text)


def test_go_quote() -> None:
    assert go_quote('"x"') == '"\\"x\\""'
    assert go_quote("a\nb\x01é") == '"a\\nb\\x01é"'
    assert go_quote("\u0080") == '"\\u0080"'


def test_syntax_error_valid_inputs() -> None:
    for text in (b"{}", b" 1 ", b'{"a":[1,{"b":null}],"c":-1.5e+3}', b'"\\u00e9"'):
        assert syntax_error(text) is None


def test_parse_keeps_raw_text_and_documents() -> None:
    values = parse(b'{"a": "\\u0041", "b": 1.0} {"c":null}')
    assert len(values) == 2
    (key, val), (_, num) = values[0].value
    assert (key, val.value, val.raw) == ("a", "A", '"\\u0041"')
    assert (num.kind, num.raw) == ("number", "1.0")
    assert parse(b"  ") == []


@dataclasses.dataclass
class _Inner:
    x: int = gofield(INT32, 0, omitempty=True)


@dataclasses.dataclass
class _Outer:
    s: str = gofield(STRING, "")
    b: bool = gofield(BOOL, False, omitempty=True)
    inner: _Inner | None = gofield(Struct(_Inner, "t.Inner", pointer=True), None, omitempty=True)


_OUTER = Struct(_Outer, "t.Outer")


def test_decode_merges_repeated_objects_and_folds_case() -> None:
    out = decode(b'{"S":"a","inner":{"x":1},"inner":{},"b":null}', _OUTER, "Outer")
    assert out == _Outer(s="a", inner=_Inner(x=1))
    assert to_wire(out) == {"s": "a", "inner": {"x": 1}}


def test_decode_errors_name_the_path() -> None:
    with pytest.raises(GoJSONError) as info:
        decode(b'{"inner":{"x":"1"}}', _OUTER, "Outer")
    assert str(info.value) == (
        "json: cannot unmarshal string into Go struct field Outer.inner.x of type int32"
    )
    with pytest.raises(GoJSONError, match=r"into Go value of type server\.Outer"):
        decode(b"[]", _OUTER, "Outer")


def test_stream_config_roundtrip() -> None:
    cfg, pedantic = decode_request(b'{"name":"S","subjects":["a"],"pedantic":true}')
    assert pedantic is True
    assert isinstance(cfg, StreamConfig)
    wire = to_wire(cfg)
    assert list(wire)[:4] == ["name", "subjects", "retention", "max_consumers"]
    assert "pedantic" not in wire and "description" not in wire
    assert json.loads(dumps(wire)) == wire


def test_decode_request_error_is_10025() -> None:
    with pytest.raises(ApiError) as info:
        decode_request(b'{"name":')
    assert info.value.to_json() == {
        "code": 400,
        "err_code": 10025,
        "description": "invalid JSON: unexpected end of JSON input",
    }


def test_dumps_escapes_like_go() -> None:
    assert dumps({"f": "$KV.b.>", "m": {"b": 1, "a": "<&>"}}) == (
        b'{"f":"$KV.b.\\u003e","m":{"b":1,"a":"\\u003c\\u0026\\u003e"}}'
    )
    assert list(to_wire({"b": 1, "a": 2})) == ["a", "b"]


def test_catalogue() -> None:
    assert len(CATALOGUE) > 200
    assert BY_NAME["JSStreamNotFoundErr"] is E.STREAM_NOT_FOUND is CATALOGUE[10059]
    err = E.STREAM_WRONG_LAST_SEQUENCE(seq=7)
    assert err.to_json() == {
        "code": 400,
        "err_code": 10071,
        "description": "wrong last sequence: 7",
    }
    assert E.STREAM_CREATE.wrap(err) is err
    assert E.STREAM_CREATE.wrap(ValueError("boom")).to_json()["description"] == "boom"
    assert E.STREAM_EXTERNAL_API_OVERLAP(prefix="$JS.API").description == (
        "stream external api prefix $JS.API must not overlap with {subject}"
    )
    assert CATALOGUE[10162].template.endswith("and may not exceed 16 characters")


def test_response() -> None:
    assert response("stream_delete_response", {"success": True}) == {
        "type": "io.nats.jetstream.api.v1.stream_delete_response",
        "success": True,
    }
    failed = response("stream_info_response", error=E.STREAM_NOT_FOUND())
    assert failed["error"] == {"code": 404, "err_code": 10059, "description": "stream not found"}
