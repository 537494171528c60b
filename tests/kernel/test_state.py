"""Typed plugin_state keys: the key's name is the dict key, values come back typed."""

from __future__ import annotations

from natskern.kernel.state import RELOAD, StateKey
from natskern.plugins.accounts.plugin import imports_of
from natskern.plugins.monitoring import state_of

from natskern import Broker


def test_a_key_reads_and_writes_its_dict_entry() -> None:
    broker = Broker({"tcp": {"enabled": False}})
    key: StateKey[list[int]] = StateKey("mine")
    assert key.get(broker) is None
    key.set(broker, [1])
    assert broker.plugin_state["mine"] == [1] and key.get(broker) == [1]
    assert key.pop(broker) == [1] and key.pop(broker) is None and "mine" not in broker.plugin_state
    assert repr(key) == "StateKey('mine')"


def test_builtin_plugins_keep_their_state_under_their_keys() -> None:
    broker = Broker({"tcp": {"enabled": False}, "monitoring": {"enabled": True, "port": 0}})
    assert state_of(broker) is broker.plugin_state["monitoring"]
    assert imports_of(broker) is None and RELOAD.get(broker) is None
