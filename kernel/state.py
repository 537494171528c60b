"""Typed slots in ``broker.plugin_state``, the per-broker state of plugins.

Plugins are modules, so there is no plugin instance to keep per-broker state on: a
plugin keeps it in the broker's ``plugin_state`` dict instead.  Rather than spelling
a string key at every use (and getting ``Any`` back), a plugin declares one
:class:`StateKey` per thing it keeps and offers an accessor, as the accounts plugin's
``imports_of(broker)`` does::

    _IMPORTS: StateKey[Imports] = StateKey("accounts")

    def imports_of(broker) -> Imports | None:
        return _IMPORTS.get(broker)

The key's name is the dict key, so ``broker.plugin_state["accounts"]`` still works
for tests and for plugins written before this module.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypedDict, TypeVar

__all__ = ["RELOAD", "HasPluginState", "ReloadRecord", "StateKey"]

T = TypeVar("T")


class HasPluginState(Protocol):
    """What a state key needs from a broker: its ``plugin_state`` dict."""

    plugin_state: dict[str, Any]


class StateKey(Generic[T]):
    """One typed entry of ``broker.plugin_state``, named ``name``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StateKey({self.name!r})"

    def get(self, broker: HasPluginState) -> T | None:
        """The value kept on ``broker``, or None when there is none."""
        value: T | None = broker.plugin_state.get(self.name)
        return value

    def set(self, broker: HasPluginState, value: T) -> None:
        """Keep ``value`` on ``broker`` (replacing what was there)."""
        broker.plugin_state[self.name] = value

    def pop(self, broker: HasPluginState) -> T | None:
        """Remove the value from ``broker`` and return it (None when there was none)."""
        value: T | None = broker.plugin_state.pop(self.name, None)
        return value


class ReloadRecord(TypedDict):
    """The last configuration reload of a broker: when (``time.time()``), and how many so far."""

    time: float
    count: int


#: Kept by the reload machinery, read by monitoring (``/varz`` ``config_load_time``).
RELOAD: StateKey[ReloadRecord] = StateKey("reload")
