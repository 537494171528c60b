"""nats-server's command line: Go flag forms, Go's errors, and flags overriding the file."""

from __future__ import annotations

from typing import Any

import pytest
from natskern.kernel.errors import ConfigError

from natskern.natsconf import parse_text, translate_report
from natskern.natsconf.flags import FlagError, apply_flags, parse_flags


@pytest.mark.parametrize(
    "argv",
    [
        ["-p", "4333"],
        ["--p", "4333"],
        ["-port", "4333"],
        ["--port", "4333"],
        ["-p=4333"],
        ["--port=4333"],
        ["-p", "0x10ed"],
        ["-p", "010355"],  # Go reads a leading zero as octal
        ["-p", "1", "--port", "4333"],  # the last one wins
    ],
)
def test_value_flag_forms(argv: list[str]) -> None:
    assert parse_flags(argv).get("port") == 4333


def test_aliases_share_one_destination() -> None:
    opts = parse_flags(["-a", "127.0.0.1", "--net", "10.0.0.1", "-n", "x", "--server_name=y"])
    assert opts.get("addr") == "10.0.0.1"
    assert opts.get("server_name") == "y"
    assert parse_flags(["--store_dir=/x"]).get("store_dir") == "/x"
    assert parse_flags(["-sd", "/y"]).get("store_dir") == "/y"
    assert parse_flags(["-m", "8222"]).get("http_port") == 8222


@pytest.mark.parametrize(
    ("argv", "dest", "expected"),
    [
        (["-js"], "jetstream", True),
        (["--jetstream"], "jetstream", True),
        (["-js=false"], "jetstream", False),
        (["-D"], "debug", True),
        (["--debug=0"], "debug", False),
        (["-V"], "trace", True),
        (["-DV"], "DV", True),
        (["-DVV"], "DVV", True),
        (["-T=false"], "logtime", False),
        (["--tlsverify"], "tlsverify", True),
        (["-t"], "t", True),
    ],
)
def test_bool_flags(argv: list[str], dest: str, expected: bool) -> None:
    assert parse_flags(argv).get(dest) is expected


def test_parsing_stops_at_the_first_positional_argument() -> None:
    opts = parse_flags(["-D", "version", "-p", "1"])
    assert opts.get("debug") is True
    assert "port" not in opts
    assert opts.args == ["version", "-p", "1"]
    assert parse_flags(["--", "-p"]).args == ["-p"]
    # a bool flag never takes the next argument as its value
    assert parse_flags(["-js", "false"]).args == ["false"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "flag provided but not defined: -bogus"),
        (["-x=1"], "flag provided but not defined: -x"),
        (["-VD"], "flag provided but not defined: -VD"),
        (["-p"], "flag needs an argument: -p"),
        (["--p=abc"], 'invalid value "abc" for flag -p: parse error'),
        (
            ["-p", "99999999999999999999"],
            'invalid value "99999999999999999999" for flag -p: value out of range',
        ),
        (["-D=x"], 'invalid boolean value "x" for -D: parse error'),
        (["---p"], "bad flag syntax: ---p"),
        (["-=x"], "bad flag syntax: -=x"),
    ],
)
def test_go_flag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as err:
        parse_flags(argv)
    assert str(err.value) == message


# -- flags over the config file ----------------------------------------------------------


def merged(conf_text: str, argv: list[str]) -> dict[str, Any]:
    parsed = parse_text(conf_text, "f.conf")
    return translate_report(apply_flags(parsed, parse_flags(argv)), source="f.conf").model


def test_port_flag_overrides_listen_but_keeps_its_host() -> None:
    conf = merged('listen: "10.0.0.1:5000"', ["-p", "4333"])
    assert conf["tcp"] == {"host": "10.0.0.1", "port": 4333}
    conf = merged("port: 5000\nlisten: 10.0.0.1:6000", ["-a", "127.0.0.1"])
    assert conf["tcp"] == {"host": "127.0.0.1", "port": 6000}


def test_flags_without_a_config_file() -> None:
    conf = merged("", ["-a", "127.0.0.1", "-p", "-1", "-m", "8222", "-n", "edge", "-l", "/tmp/x"])
    assert conf["tcp"] == {"host": "127.0.0.1", "port": -1}
    assert conf["monitoring"] == {"enabled": True, "host": "127.0.0.1", "port": 8222}
    assert conf["server"] == {"name": "edge"}
    assert conf["logging"] == {"file": "/tmp/x"}


def test_debug_and_trace_flags() -> None:
    assert merged("debug: false", ["-DV"])["logging"] == {"debug": True, "trace": True}
    assert merged("", ["-VV"])["logging"] == {"trace": True}
    assert merged("trace: true", ["-V=false", "-T=false"])["logging"] == {
        "trace": False,
        "logtime": False,
    }


def test_auth_flags_override_the_authorization_block() -> None:
    conf = merged("authorization { username: a, password: b, timeout: 3 }", ["--user", "u"])
    assert conf["auth"] == {"user": "u", "password": "b", "timeout": 3.0}
    assert merged("", ["--auth", "s3cr3t"])["auth"] == {"token": "s3cr3t"}


def test_jetstream_flags() -> None:
    assert merged("", ["-js"])["jetstream"] == {"enabled": True}
    assert merged("", ["-sd", "/data"])["jetstream"] == {"store_dir": "/data"}
    conf = merged("jetstream { store_dir: /old, max_mem: 1G }", ["-js", "--store_dir=/new"])
    assert conf["jetstream"] == {"enabled": True, "store_dir": "/new", "max_memory": 10**9}
    conf = merged("store_dir: /old\njetstream: disabled", ["-sd", "/new"])
    assert conf["jetstream"] == {"enabled": False, "store_dir": "/new"}


def test_tls_flags_replace_the_tls_block(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.pem", "a.key", "b.pem", "b.key", "ca.pem"):
        (tmp_path / name).write_text("x")
    file_tls = "tls { cert_file: a.pem, key_file: a.key, timeout: 5 }"
    conf = merged(
        file_tls, ["--tlscert", "b.pem", "--tlskey=b.key", "--tlscacert", "ca.pem", "--tlsverify"]
    )
    assert conf["tls"] == {
        "cert_file": "b.pem",
        "key_file": "b.key",
        "ca_file": "ca.pem",
        "verify": True,
    }
    assert "tls" not in merged(file_tls, ["--tls=false"])
    assert merged(file_tls, [])["tls"]["cert_file"] == "a.pem"


def test_cluster_flags_are_accepted() -> None:
    parsed = parse_text("", "f.conf")
    argv = [
        "--cluster",
        "nats://127.0.0.1:6222",
        "--routes",
        "nats://a:6222, nats://b:6222",
        "--cluster_name",
        "c1",
        "--no_advertise",
        "--connect_retries",
        "3",
    ]
    tr = translate_report(apply_flags(parsed, parse_flags(argv)), source="f.conf")
    assert tr.model["cluster"] == {
        "listen": "127.0.0.1:6222",
        "routes": ["nats://a:6222", "nats://b:6222"],
        "name": "c1",
    }
    assert any("clustering is not implemented yet" in line for line in tr.ignored)


def test_routes_need_cluster_capabilities() -> None:
    with pytest.raises(ConfigError, match="solicited routes require cluster capabilities"):
        apply_flags(parse_text(""), parse_flags(["--routes", "nats://a:6222"]))
    # a cluster block in the file is enough
    conf = merged("cluster { listen: 0.0.0.0:6222 }", ["--routes", "nats://a:6222"])
    assert conf["cluster"]["routes"] == ["nats://a:6222"]


def test_flags_do_not_change_the_parsed_tree() -> None:
    parsed = parse_text("authorization { user: a, password: b }\nport: 1")
    apply_flags(parsed, parse_flags(["--user", "u", "-p", "2"]))
    assert parsed == {"authorization": {"user": "a", "password": "b"}, "port": 1}
