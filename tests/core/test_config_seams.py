"""Config seams are plugin-shaped: section ownership, nested schemas, the reload hook.

Built-ins use these seams exactly as a third party does: the JetStream and cluster
plugins own their sections, the JetStream and mappings plugins add keys to every
account, and reload is decided by schema markers and applied by ``reload`` hooks.
"""

from __future__ import annotations

from typing import Any

import pytest
from natskern.kernel.config import LIVE, RELOAD, RESTART, merge_schemas
from natskern.kernel.reload import ConfigChanges, ReloadError, diff_configs

from natskern import Broker, ConfigError, hookimpl

OFF = {"tcp": {"enabled": False}}


def _owner_of(broker: Broker, section: str) -> str:
    for impl in broker.pm.hook.config_schema.get_hookimpls():
        if section in (impl.function() or {}):
            return impl.plugin_name
    raise AssertionError(f"nobody owns {section}")


# -- ownership and nested contributions ------------------------------------------------------


def test_jetstream_and_cluster_belong_to_their_plugins() -> None:
    broker = Broker(OFF)
    assert _owner_of(broker, "jetstream") == "jetstream"
    assert _owner_of(broker, "cluster") == "cluster"
    assert _owner_of(broker, "accounts.*.jetstream") == "jetstream"
    assert _owner_of(broker, "accounts.*.mappings") == "mappings"
    assert _owner_of(broker, "accounts.*.exports") == "accounts"
    assert _owner_of(broker, "accounts.*.imports") == "accounts"
    account = broker.schema["properties"]["accounts"]["additionalProperties"]["properties"]
    assert {"users", "exports", "imports", "mappings", "jetstream"} <= set(account)
    # The block keeps every key nats-server configs carry (accepted, not implemented yet).
    config = Broker({**OFF, "jetstream": {"enabled": True, "sync_interval": "2m"}}).config
    assert config["jetstream"]["max_memory"] == -1
    assert config["cluster"] == {"name": "", "listen": "", "routes": []}


def test_the_auth_schema_no_longer_holds_placeholders() -> None:
    from natskern.plugins.auth.schema import ACCOUNT

    assert "jetstream" not in ACCOUNT["properties"]
    assert "mappings" not in ACCOUNT["properties"]
    # merging copies: the module-level schema is never grafted onto
    Broker(OFF)
    assert "jetstream" not in ACCOUNT["properties"]


@pytest.mark.parametrize(
    "value",
    [
        "enabled",
        "disabled",
        True,
        {"max_memory": 1 << 30, "max_store": -1, "max_streams": 5, "max_consumers": 10},
        {"max_ack_pending": 100, "max_bytes_required": True, "mem_max_stream_bytes": 1024},
    ],
)
def test_account_jetstream_limits_are_validated_by_the_jetstream_plugin(value: Any) -> None:
    config = Broker({**OFF, "accounts": {"A": {"jetstream": value}}}).config
    assert config["accounts"]["A"]["jetstream"] == value


@pytest.mark.parametrize("value", [5, "maybe", {"max_memmory": 1}, {"max_streams": "x"}])
def test_bad_account_jetstream_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"accounts\.A\.jetstream"):
        Broker({**OFF, "accounts": {"A": {"jetstream": value}}})


def test_account_mappings_are_validated_by_the_mappings_plugin() -> None:
    with pytest.raises(ConfigError, match=r"accounts\.A\.mappings\.c"):
        Broker({**OFF, "accounts": {"A": {"mappings": {"c": 5}}}})


def test_blocking_the_owner_of_accounts_drops_what_others_add_to_it() -> None:
    broker = Broker({**OFF, "plugins": {"block": ["auth"]}})
    assert "accounts" not in broker.schema["properties"]
    with pytest.raises(ConfigError, match="'accounts' was unexpected"):
        Broker({**OFF, "plugins": {"block": ["auth"]}, "accounts": {"A": {}}})


def test_blocking_the_jetstream_plugin_takes_its_keys_with_it() -> None:
    block = {**OFF, "plugins": {"block": ["jetstream"]}}
    Broker(block)
    with pytest.raises(ConfigError, match="'jetstream' was unexpected"):
        Broker({**block, "jetstream": {"enabled": True}})
    with pytest.raises(ConfigError, match=r"accounts\.A.*'jetstream' was unexpected"):
        Broker({**block, "accounts": {"A": {"jetstream": "enabled"}}})


class ThirdPartyJetStream:
    """Someone else's JetStream: owns the section once the built-in is blocked."""

    @hookimpl
    def config_schema(self) -> dict[str, Any]:
        return {
            "jetstream": {"type": "object", "properties": {"engine": {"type": "string"}}},
            "accounts.*.jetstream": {"type": "object"},
        }


def test_a_third_party_plugin_can_own_jetstream() -> None:
    block = {**OFF, "plugins": {"block": ["jetstream"]}}
    broker = Broker({**block, "jetstream": {"engine": "x"}}, plugins=[ThirdPartyJetStream()])
    assert broker.config["jetstream"] == {"engine": "x"}
    with pytest.raises(ConfigError, match=r"'jetstream'.*'jetstream'"):
        Broker(OFF, plugins=[ThirdPartyJetStream()])


def _schema(*fragments: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return merge_schemas(fragments)


OBJ: dict[str, Any] = {"type": "object"}
ACCOUNTS = {"type": "object", "additionalProperties": {"type": "object", "properties": {}}}


def test_nested_paths_graft_and_conflicts_name_both_plugins() -> None:
    schema = _schema(("auth", {"accounts": ACCOUNTS}), ("js", {"accounts.*.jetstream": OBJ}))
    entry = schema["properties"]["accounts"]["additionalProperties"]
    assert entry["properties"] == {"jetstream": OBJ}
    assert ACCOUNTS["additionalProperties"]["properties"] == {}  # fragments are copied
    with pytest.raises(ConfigError, match=r"'accounts\.\*\.jetstream'.*'js' and 'other'"):
        _schema(
            ("auth", {"accounts": ACCOUNTS}),
            ("js", {"accounts.*.jetstream": OBJ}),
            ("other", {"accounts.*.jetstream": OBJ}),
        )
    users = {"type": "object", "additionalProperties": {"properties": {"users": OBJ}}}
    with pytest.raises(ConfigError, match=r"'accounts\.\*\.users'.*'auth' and 'js'"):
        _schema(("auth", {"accounts": users}), ("js", {"accounts.*.users": OBJ}))
    # a section nobody owns (its owner blocked): nothing to add to, not an error
    assert _schema(("js", {"nosuch.x": OBJ}))["properties"] == {}
    with pytest.raises(ConfigError, match=r"'js'.*'tcp\.x\.y'.*'tcp\.x' \(plugin 'tcp'\)"):
        _schema(("tcp", {"tcp": {"type": "object", "properties": {}}}), ("js", {"tcp.x.y": OBJ}))
    # a graft onto a graft: ordered by depth, whatever the plugin order
    deep = _schema(
        ("deeper", {"accounts.*.jetstream.tier": OBJ}),
        ("auth", {"accounts": ACCOUNTS}),
        ("js", {"accounts.*.jetstream": {"type": "object", "properties": {}}}),
    )
    entry = deep["properties"]["accounts"]["additionalProperties"]["properties"]
    assert entry["jetstream"]["properties"] == {"tier": OBJ}


def test_a_bad_nested_contribution_fails_broker_start_up() -> None:
    class Stray:
        @hookimpl
        def config_schema(self) -> dict[str, Any]:
            return {"accounts.*.users": OBJ}

    with pytest.raises(ConfigError, match=r"'auth' and 'stray'"):
        Broker(OFF, plugins=[_named(Stray(), "stray")])


def _named(obj: Any, name: str) -> Any:
    obj.__name__ = name
    return obj


# -- the reload hook ---------------------------------------------------------------------


class Greeter:
    """A third-party section: ``greeting`` is reloadable, ``port`` is not."""

    def __init__(self) -> None:
        self.reloads: list[tuple[str, tuple[str, ...]]] = []

    @hookimpl
    def config_schema(self) -> dict[str, Any]:
        return {
            "greeter": {
                "type": "object",
                RELOAD: LIVE,
                "properties": {
                    "greeting": {"type": "string", "default": "hi"},
                    "port": {"type": "integer", "default": 1, RELOAD: RESTART},
                },
            },
            "frozen": {"type": "object", "properties": {"n": {"type": "integer"}}},
        }

    @hookimpl
    def configure(self, broker: Broker, config: dict[str, Any]) -> None:
        broker.plugin_state["greeter"] = config["greeter"]["greeting"]

    @hookimpl
    def reload(
        self, broker: Broker, old: dict[str, Any], new: dict[str, Any], changes: ConfigChanges
    ) -> None:
        if changes.touches("greeter"):
            self.reloads.append((new["greeter"]["greeting"], changes.paths))
            broker.plugin_state["greeter"] = new["greeter"]["greeting"]


def test_a_third_party_section_is_reloaded_through_the_hook() -> None:
    greeter = Greeter()
    broker = Broker(OFF, plugins=[greeter])
    changes = broker.reload({**OFF, "greeter": {"greeting": "hello"}})
    assert changes.lines == ("greeter",)
    assert greeter.reloads == [("hello", ("greeter.greeting",))]
    assert broker.plugin_state["greeter"] == "hello"
    assert broker.config["greeter"]["greeting"] == "hello"
    # no change: the hook runs for nobody
    assert not broker.reload({**OFF, "greeter": {"greeting": "hello"}})
    assert len(greeter.reloads) == 1
    with pytest.raises(ReloadError, match=r"greeter\.port: old=1, new=2"):
        broker.reload({**OFF, "greeter": {"greeting": "x", "port": 2}})
    with pytest.raises(ReloadError, match=r"frozen\.n: old=None, new=3"):
        broker.reload({**OFF, "frozen": {"n": 3}})
    assert broker.config["greeter"] == {"greeting": "hello", "port": 1}  # unchanged
    assert len(greeter.reloads) == 1


def test_the_check_before_a_reload_uses_the_brokers_own_plugins() -> None:
    greeter = Greeter()
    broker = Broker(OFF, plugins=[greeter])
    with pytest.raises(ReloadError, match=r"greeter\.greeting: expected string"):
        broker.reload({**OFF, "greeter": {"greeting": 5}})


def test_diff_reports_sections_and_keys_as_nats_server_logs() -> None:
    schema = Broker(OFF).schema
    old = Broker(OFF).config
    new = {**old, "server": {**old["server"], "max_payload": 10, "ping_max": 5}}
    assert diff_configs(old, new, schema).lines == ("max_payload = 10", "ping_max = 5")
    changes = diff_configs(old, {**old, "mappings": {"a": "b"}}, schema)
    assert (changes.lines, changes.paths) == (("mappings",), ("mappings.a",))
    assert changes.touches("mappings") and not changes.touches("accounts.*.mappings")
    assert changes.sections == {"mappings"}
    with pytest.raises(ReloadError, match=r"cluster\.name: old=, new=c"):
        diff_configs(old, {**old, "cluster": {**old["cluster"], "name": "c"}}, schema)
    with pytest.raises(ReloadError, match=r"jetstream\.enabled: old=False, new=True"):
        diff_configs(old, {**old, "jetstream": {**old["jetstream"], "enabled": True}}, schema)


def test_touches_matches_wildcards_and_prefixes() -> None:
    changes = ConfigChanges(("accounts.A.mappings.x", "server.max_payload"), ())
    assert changes.touches("accounts.*.mappings")
    assert changes.touches("accounts")
    assert changes.touches("server.max_payload.deeper")  # a value replaced whole
    assert not changes.touches("accounts.*.jetstream", "auth")


async def test_reloaded_account_mappings_apply_to_the_next_publish() -> None:
    config = {**OFF, "accounts": {"A": {"mappings": {"in": "one"}}}}
    async with Broker(config) as broker, broker.connect(account="A") as nc:
        one = await nc.subscribe("one")
        two = await nc.subscribe("two")
        await nc.publish("in", b"1")
        assert (await one.next_msg(timeout=2)).data == b"1"
        changes = broker.reload({**OFF, "accounts": {"A": {"mappings": {"in": "two"}}}})
        assert changes.lines == ("accounts",)
        assert changes.touches("accounts.*.mappings")
        await nc.publish("in", b"2")
        assert (await two.next_msg(timeout=2)).data == b"2"


def test_reload_takes_back_only_the_auth_plugins_demand() -> None:
    class Demand:
        @hookimpl
        def configure(self, broker: Broker, config: dict[str, Any]) -> None:
            broker.require_auth(source="demand")

    users = {**OFF, "auth": {"users": [{"user": "a", "password": "b"}]}}
    broker = Broker(users)
    assert broker.auth_required
    broker.reload(OFF)
    assert not broker.auth_required
    both = Broker(users, plugins=[Demand()])
    both.reload(OFF)
    assert both.auth_required and both.auth_demands == {"demand": False}
