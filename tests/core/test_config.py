"""Configuration: merged schema, defaults, one clear error line, the config commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from natskern.kernel.config import load_file

from natskern import Broker, ConfigError


def test_defaults_are_filled_in() -> None:
    config = Broker({}).config
    assert config["tcp"] == {"enabled": True, "host": "127.0.0.1", "port": 4222, "backlog": 1024}
    assert config["server"]["max_payload"] == 1048576
    assert config["server"]["max_pending"] == 64 * 1024 * 1024
    assert config["auth"]["timeout"] == 2.0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tcp": {"port": "abc"}}, 'tcp.port: expected integer, got "abc"'),
        ({"tcp": {"port": 70000}}, "tcp.port: 70000 is greater than the maximum of 65535"),
        ({"tpc": {}}, "'tpc' was unexpected"),
        ({"server": {"max_payload": 0}}, "server.max_payload: 0 is less than the minimum of 1"),
        ({"unix": {"mode": "999"}}, "unix.mode"),
        ({"auth": {"users": [{"password": "x"}]}}, "auth.users.0"),
        ({"auth": {"no_auth_user": "ghost"}}, "no user 'ghost'"),
        ({"auth": {"token": "t", "user": "u"}}, "token cannot be combined"),
        (
            {"server": {"max_payload": 2048, "max_pending": 1024}},
            "server.max_payload (2048) cannot be higher than server.max_pending (1024)",
        ),
    ],
)
def test_bad_config_gets_one_clear_error(config: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Broker(config)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_toml_and_json_files(tmp_path) -> None:
    toml = tmp_path / "b.toml"
    toml.write_text("[tcp]\nport = 4333\n[server]\nmax_payload = 2048\n")
    assert load_file(toml) == {"tcp": {"port": 4333}, "server": {"max_payload": 2048}}
    js = tmp_path / "b.json"
    js.write_text(json.dumps({"tcp": {"port": 4334}}))
    assert Broker(load_file(js)).config["tcp"]["port"] == 4334
    bad = tmp_path / "bad.toml"
    bad.write_text("[tcp\nport=1")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_file(bad)
    with pytest.raises(ConfigError, match=r"cannot read config file"):
        load_file(tmp_path / "missing.toml")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "natskern", *args], capture_output=True, text=True, timeout=60
    )


def test_config_schema_command_prints_the_merged_schema() -> None:
    out = _cli("config", "schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert {"server", "tcp", "unix", "auth", "accounts", "mappings"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_config_check_and_serve_report_errors_without_traceback(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[tcp]\nport = "abc"\n')
    for args in (["config", "check", str(bad)], ["serve", "--config", str(bad)]):
        out = _cli(*args)
        assert out.returncode == 1
        assert (
            out.stderr.strip()
            == 'natskern: invalid configuration: tcp.port: expected integer, got "abc"'
        )
        assert "Traceback" not in out.stderr
    good = tmp_path / "good.toml"
    good.write_text("[tcp]\nport = 4999\n")
    out = _cli("config", "check", str(good))
    assert out.returncode == 0 and "valid" in out.stdout
