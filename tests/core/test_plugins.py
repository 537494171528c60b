"""The plugin system: hookspecs, default plugins, blocking, duplicates, entry points."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from natskern.kernel import hookspecs
from natskern.kernel.errors import ConfigError

from natskern import Broker, PluginError, hookimpl
from natskern.defaults import DEFAULT_PLUGINS, default_plugin_manager

ROOT = Path(__file__).resolve().parents[2]


def test_every_hookspec_is_documented() -> None:
    specs = [
        obj
        for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(obj, "natskern_spec")
    ]
    assert len(specs) >= 8
    for spec in specs:
        assert spec.__doc__ and len(spec.__doc__.strip()) > 40, spec.__name__


def test_default_plugins_pass_check_pending() -> None:
    pm = default_plugin_manager()
    names = {name for name, _ in pm.list_name_plugin()}
    assert {name for name, _ in DEFAULT_PLUGINS} <= names
    pm.check_pending()


def test_blocking_a_default_plugin() -> None:
    broker = Broker({"plugins": {"block": ["unix"]}})
    assert "unix" not in broker.transports
    assert "tcp" in broker.transports
    with pytest.raises(ConfigError, match="unix"):
        Broker({"plugins": {"block": ["unix"]}, "unix": {"path": "/tmp/x.sock"}})


def test_essential_plugin_cannot_be_blocked() -> None:
    with pytest.raises(PluginError, match="essential"):
        Broker({"plugins": {"block": ["core"]}})


def test_duplicate_registration_names_both_plugins() -> None:
    class Dup:
        @hookimpl
        def register_transports(self, register):
            register("tcp", object())

    with pytest.raises(PluginError, match=r"'tcp'.*'tcp'.*'dup'"):
        Broker({}, plugins=[_named(Dup(), "dup")])


def test_unknown_hook_fails_start_up() -> None:
    class Typo:
        @hookimpl
        def register_transport(self, register):  # missing "s"
            pass

    with pytest.raises(PluginError, match="register_transport"):
        Broker({}, plugins=[Typo()])


def test_plugin_section_and_schema_validation() -> None:
    class Greeter:
        @hookimpl
        def config_schema(self):
            return {
                "greeter": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "default": 3}},
                }
            }

        @hookimpl
        def configure(self, broker, config):
            broker.plugin_state["greeter"] = config["greeter"]["n"]

    assert Broker({}, plugins=[Greeter()]).plugin_state["greeter"] == 3
    assert Broker({"greeter": {"n": 5}}, plugins=[Greeter()]).plugin_state["greeter"] == 5
    with pytest.raises(ConfigError, match=r"greeter\.n: expected integer"):
        Broker({"greeter": {"n": "five"}}, plugins=[Greeter()])


def test_late_registered_plugin_contributes() -> None:
    broker = Broker({"tcp": {"enabled": False}})

    class Late:
        @hookimpl
        def register_storage_backends(self, register):
            register("null", dict)

    broker.register_plugin(Late(), name="late")
    assert broker.storage_backends.get("null") is dict
    assert broker.storage_backends.owner("null") == "late"


def _named(obj, name):
    obj.__name__ = name
    return obj


@pytest.fixture(scope="module")
def installed_hello(tmp_path_factory) -> Path:
    """tests/fixtures/natskern_hello installed with pip into its own directory."""
    target = tmp_path_factory.mktemp("site")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    if all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel")):
        cmd.append("--no-build-isolation")  # offline and quicker when the build tools are here
    src = tmp_path_factory.mktemp("src") / "natskern_hello"
    shutil.copytree(ROOT / "tests" / "fixtures" / "natskern_hello", src)
    subprocess.run([*cmd, str(src)], check=True, timeout=300)
    return target


def _natskern(args: list[str], site: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), **env}
    environ.pop("NATSKERN_DISABLE_PLUGIN_AUTOLOAD", None)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "natskern", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


def test_third_party_plugin_is_picked_up_through_its_entry_point(installed_hello: Path) -> None:
    out = _natskern(["plugins", "--json"], installed_hello)
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p["hooks"] for p in json.loads(out.stdout)}
    assert plugins["hello"] == ["config_schema", "configure", "register_commands"]
    schema = json.loads(_natskern(["config", "schema"], installed_hello).stdout)
    assert "hello" in schema["properties"]
    hello = _natskern(["hello"], installed_hello)
    assert hello.stdout.strip() == "hello from natskern-hello"


def test_autoload_can_be_switched_off(installed_hello: Path) -> None:
    out = _natskern(["plugins", "--json"], installed_hello, NATSKERN_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "hello" not in {p["name"] for p in json.loads(out.stdout)}


def test_third_party_plugin_can_be_blocked(installed_hello: Path) -> None:
    out = _natskern(["plugins", "--json"], installed_hello, NATSKERN_BLOCK_PLUGINS="hello")
    assert "hello" not in {p["name"] for p in json.loads(out.stdout)}
