"""The nats-server config syntax: every form, the unit pitfalls, includes, variables, errors."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from natskern.kernel.errors import ConfigError

from natskern.natsconf import ConfList, ConfMap, ConfSyntaxError, parse_file, parse_text


def value(text: str) -> object:
    """The value of ``x`` in a one-line config."""
    return parse_text(f"x: {text}\n")["x"]


# -- key/value forms ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "port = 4222",
        "port: 4222",
        "port 4222",
        "port=4222",
        "port:4222",
        "  port \t 4222  ",
        '"port": 4222',
        "'port' 4222",
    ],
)
def test_key_value_separators(line: str) -> None:
    assert parse_text(line) == {"port": 4222}


def test_terminators_comments_and_json() -> None:
    text = """
    # hash comment
    // slash comment
    a: 1; b: 2, c: 3   # trailing comment
    d: 4 // trailing slash comment
    """
    assert parse_text(text) == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert parse_text('{"a": 1, "b": {"c": [true, "x"]}}') == {"a": 1, "b": {"c": [True, "x"]}}


def test_maps_and_arrays_nest_with_commas_or_newlines() -> None:
    text = """
    cluster {
      name: c1
      routes = [
        nats://127.0.0.1:6223
        nats://127.0.0.1:6224,
      ]
      inner { deep: [ {a: 1}, {b: [2, 3]} ] }
    }
    empty_map {}
    empty_list: []
    """
    conf = parse_text(text)
    assert conf["cluster"] == {
        "name": "c1",
        "routes": ["nats://127.0.0.1:6223", "nats://127.0.0.1:6224"],
        "inner": {"deep": [{"a": 1}, {"b": [2, 3]}]},
    }
    assert conf["empty_map"] == {}
    assert conf["empty_list"] == []
    assert isinstance(conf["cluster"], ConfMap)
    assert isinstance(conf["cluster"]["routes"], ConfList)


def test_keys_keep_their_case_and_last_definition_wins() -> None:
    conf = parse_text("Port: 1\nport: 2\nport: 3\n")
    assert conf == {"Port": 1, "port": 3}


# -- scalar values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("On", True),
        ("false", False),
        ("no", False),
        ("off", False),
        ("OFF", False),
    ],
)
def test_booleans(word: str, expected: bool) -> None:
    assert value(word) is expected


def test_quoted_booleans_are_strings() -> None:
    assert value('"true"') == "true"
    assert value("trueish") == "trueish"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1ki", 1024),
        ("1kib", 1024),
        ("1m", 1_000_000),
        ("1M", 1_000_000),
        ("1mb", 1 << 20),
        ("1MB", 1 << 20),
        ("1mi", 1 << 20),
        ("1g", 10**9),
        ("1gb", 1 << 30),
        ("1GiB", 1 << 30),
        ("1t", 10**12),
        ("1tb", 1 << 40),
        ("1p", 10**15),
        ("1pb", 1 << 50),
        ("1e", 10**18),
        ("1eb", 1 << 60),
        ("-1", -1),
        ("-1k", -1000),
        ("007", 7),
        ("4222", 4222),
    ],
)
def test_size_suffixes_follow_nats_server(text: str, expected: int) -> None:
    assert value(text) == expected


def test_unit_pitfalls() -> None:
    # An unquoted 2m is the number 2,000,000 (mega), not two minutes...
    assert value("2m") == 2_000_000
    # ...while 30s and 1h are not numbers at all and stay strings.
    assert value("30s") == "30s"
    assert value("1h") == "1h"
    assert value('"2m"') == "2m"
    # 1M is 10^6 but 1MB is 2^20.
    assert value("1M") != value("1MB")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0:4222", "0.0.0.0:4222"),
        ("127.0.0.1:4222", "127.0.0.1:4222"),
        ("1.2.3.4-5", "1.2.3.4-5"),
        ("localhost:4222", "localhost:4222"),
        ("1kx", "1kx"),
        ("12ab", "12ab"),
        ("1:2", "1:2"),
        ("1_000", "1_000"),
        ("nats://host:4222", "nats://host:4222"),
        ("a#b", "a#b"),
        ("a//b", "a//b"),
        ('abc"def', 'abc"def'),
        ("x{y", "x{y"),
        ("a=b", "a=b"),
    ],
)
def test_unquoted_strings(text: str, expected: str) -> None:
    assert value(text) == expected


def test_floats_and_dates() -> None:
    assert value("1.5") == 1.5
    assert value("-0.25") == -0.25
    assert value("2024-01-02T15:04:05Z") == datetime(2024, 1, 2, 15, 4, 5, tzinfo=UTC)


def test_string_escapes() -> None:
    assert value(r'"a\tb\nc\rd\"e\\f\x41"') == 'a\tb\nc\rd"e\\fA'
    assert value(r"'raw\tstring'") == r"raw\tstring"
    assert value(r"un\tquoted") == "un\tquoted"
    assert value(r"\true") == "\true"  # an escape makes it a string, not a boolean
    assert value('"multi\nline"') == "multi\nline"
    assert value('"\\xc3\\xa9"') == "é"


def test_block_string_ends_at_a_lone_parenthesis() -> None:
    conf = parse_text("x: (\nline one\n  (nested) text)\n)\ny: 1\n")
    assert conf["x"] == "\nline one\n  (nested) text)\n"
    assert conf["y"] == 1


def test_single_element_array_of_numbers() -> None:
    # nats-server 2.9 cannot parse [1]; we read it as an array of one integer.
    assert value("[1]") == [1]
    assert value("[1k, 2]") == [1000, 2]


# -- positions ---------------------------------------------------------------------------


def test_values_remember_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pos.conf"
    path.write_text("port: 1\n\nauthorization {\n  users: [\n    {user: a}\n  ]\n}\n")
    conf = parse_file(path)
    assert conf.position("port").line == 1
    assert conf.position("authorization").line == 3
    auth = conf["authorization"]
    assert auth.position("users") == (str(path), 4, 3)
    assert auth["users"].position(0).line == 5
    assert str(conf.position("port")) == f"{path}:1"


# -- include -----------------------------------------------------------------------------


def test_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "auth.conf").write_text(
        'users: [{user: a, password: b}]\ninclude "../more.conf"\n'
    )
    (tmp_path / "more.conf").write_text("timeout: 3\n")
    main = tmp_path / "main.conf"
    main.write_text("port: 1\nauthorization {\n  include sub/auth.conf\n}\ninclude 'top.conf'\n")
    (tmp_path / "top.conf").write_text("debug: true\n")
    conf = parse_file(main)
    assert conf == {
        "port": 1,
        "authorization": {"users": [{"user": "a", "password": "b"}], "timeout": 3},
        "debug": True,
    }
    # Positions of included keys point into the included file.
    assert conf.position("debug").file.endswith("top.conf")
    assert conf["authorization"].position("timeout").file.endswith("more.conf")


def test_included_file_does_not_see_the_includers_variables(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("token: $SECRET_FROM_PARENT\n")
    main = tmp_path / "main.conf"
    main.write_text("SECRET_FROM_PARENT: x\nauthorization { include inc.conf }\n")
    with pytest.raises(ConfSyntaxError, match="SECRET_FROM_PARENT"):
        parse_file(main)


def test_include_errors_name_the_file(tmp_path: Path) -> None:
    main = tmp_path / "main.conf"
    main.write_text("a: 1\ninclude missing.conf\n")
    with pytest.raises(ConfSyntaxError) as err:
        parse_file(main)
    assert err.value.line == 2
    assert "missing.conf" in str(err.value)
    (tmp_path / "bad.conf").write_text("x: 1\ny: [\n")
    main.write_text("include bad.conf\n")
    with pytest.raises(ConfSyntaxError) as err:
        parse_file(main)
    assert err.value.file.endswith("bad.conf")


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    with pytest.raises(ConfSyntaxError, match="include cycle"):
        parse_file(tmp_path / "a.conf")


# -- variables ---------------------------------------------------------------------------


def test_variables_are_block_scoped() -> None:
    conf = parse_text("A: 1\nm { A: 2, x { y: $A } }\nz: $A\n")
    assert conf["m"]["x"]["y"] == 2
    assert conf["z"] == 1
    assert conf.used == {"A"}
    assert conf["m"].used == {"A"}


def test_variables_must_be_defined_earlier() -> None:
    with pytest.raises(ConfSyntaxError, match="'LATER' can not be found"):
        parse_text("x: $LATER\nLATER: 1\n")


def test_variable_can_hold_a_map() -> None:
    conf = parse_text("P = { publish: x }\nu: { permissions: $P }\n")
    assert conf["u"]["permissions"] == {"publish": "x"}


def test_variables_from_the_environment_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NK_PORT", "4333")
    monkeypatch.setenv("NK_SIZE", "2MB")
    monkeypatch.setenv("NK_TEXT", '"quoted text"')
    monkeypatch.setenv("NK_LIST", "[a, b]")
    conf = parse_text("port: $NK_PORT\nsize: $NK_SIZE\ntext: $NK_TEXT\nlist: $NK_LIST\n")
    assert conf == {"port": 4333, "size": 2 << 20, "text": "quoted text", "list": ["a", "b"]}


def test_environment_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NK_BAD", "hello world")
    with pytest.raises(ConfSyntaxError, match="'NK_BAD' could not be parsed"):
        parse_text("x: $NK_BAD\n")
    monkeypatch.setenv("NK_A", "$NK_B")
    monkeypatch.setenv("NK_B", "$NK_A")
    with pytest.raises(ConfSyntaxError, match="cycle"):
        parse_text("x: $NK_A\n")


def test_bcrypt_hashes_and_quoted_dollars_are_literal() -> None:
    assert value("$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG") == (
        "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
    )
    assert value('"$NOT_A_VARIABLE"') == "$NOT_A_VARIABLE"


# -- syntax errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a: 1\nb: [1 2]\n", 2, "array value terminator"),
        ("a: 1\nb: {c: 1 d: 2}\n", 2, "map value terminator"),
        ("x: 1.5k\n", 1, "top-level value to end"),
        ("x: 1.\n", 1, "digit after the '.'"),
        ("x: .5\n", 1, "Floats must start with a digit"),
        ("x: 2024-01-02\n", 1, "ISO8601"),
        ("x: 1-2\n", 1, "full Zulu form"),
        ("x: -y\n", 1, "Expected a digit"),
        ('x: "a\\qb"\n', 1, "Invalid escape character 'q'"),
        ('x: "\\x4"\n', 1, "two hexadecimal digits"),
        ("x:\n1\n", 1, "found new line"),
        ("a: 1\n\nx: [1, 2\n", 3, "not closed"),
        ("x: {a: 1\n", 1, "not closed"),
        ('x: "open\n', 1, "not closed"),
        ("x: (\nno end\n", 1, "block string"),
        ("x: [1,,2]\n", 1, "Unexpected array value terminator"),
        ("x: 1kbb\n", 1, "invalid size suffix"),
        ("x: 99999999999999999999\n", 1, "out of the range"),
        ("x: 10e\n", 1, "out of the range"),
        ("x: 2024-13-02T15:04:05Z\n", 1, "Zulu formatted DateTime"),
        ("x\n", 1, "has no value"),
        ("= 1\n", 1, "key separator"),
        ("include\n", 1, "include value but found new line"),
        ("include [a]\n", 1, "start of an array"),
    ],
)
def test_syntax_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfSyntaxError) as err:
        parse_text(text, "bad.conf")
    assert err.value.file == "bad.conf"
    assert err.value.line == line
    assert fragment in str(err.value)
    assert str(err.value).startswith(f"bad.conf:{line}:")
    assert isinstance(err.value, ConfigError)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        parse_file(tmp_path / "missing.conf")


# -- round trip property -----------------------------------------------------------------

_KEY = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
    lambda k: k not in ("include", "true", "false", "yes", "no", "on", "off")
)
_SCALAR = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEY, inner, max_size=4)),
    max_leaves=12,
)


def _render(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if "e" not in repr(v) else f"{v:.6f}"
    if isinstance(v, str):
        out = v.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
        return '"' + out.replace("\n", "\\n").replace("\r", "\\r") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_render(x) for x in v) + "]"
    assert isinstance(v, dict)
    return "{" + "\n".join(f"{k}: {_render(x)}" for k, x in v.items()) + "\n}"


@given(st.dictionaries(_KEY, _VALUE, max_size=5))
def test_rendered_values_parse_back(doc: dict[str, object]) -> None:
    text = "\n".join(f"{k} = {_render(v)}" for k, v in doc.items())
    expected = json.loads(json.dumps(doc))
    parsed = json.loads(json.dumps(parse_text(text)))
    # floats are rendered with limited precision in exponent-free form
    assert _approx(parsed, expected)


def _approx(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_approx(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_approx(a[k], b[k]) for k in a)
    return a == b and type(a) is type(b)
