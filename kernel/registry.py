"""Typed registries filled by the ``register_*`` hooks, one call per plugin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import pluggy
from natskern.kernel.errors import PluginError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named components of one kind (transports, storage backends, mapping functions).

    A name registered twice is an error naming both plugins.  Names are compared
    as given, or lower-cased when ``casefold`` is set (mapping functions).
    """

    def __init__(self, kind: str, *, casefold: bool = False) -> None:
        self.kind = kind
        self.casefold = casefold
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def add(self, name: str, component: T, owner: str) -> None:
        """Register ``component`` under ``name`` on behalf of plugin ``owner``."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {owner!r} registered a {self.kind} with an invalid name")
        key = name.lower() if self.casefold else name
        if key in self._owners:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {self._owners[key]!r} "
                f"and by plugin {owner!r}"
            )
        self._items[key] = component
        self._owners[key] = owner

    def collect(self, pm: pluggy.PluginManager, hook_name: str, plugin: object = None) -> None:
        """Call ``hook_name`` on every plugin (or only ``plugin``) with a ``register`` callback."""
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            if plugin is not None and impl.plugin is not plugin:
                continue
            owner = impl.plugin_name

            def register(name: str, component: T, _owner: str = owner) -> None:
                self.add(name, component, _owner)

            impl.function(register=register)

    def get(self, name: str) -> T | None:
        """The component registered under ``name``, or None."""
        return self._items.get(name.lower() if self.casefold else name)

    def owner(self, name: str) -> str | None:
        """The plugin that registered ``name``."""
        return self._owners.get(name.lower() if self.casefold else name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        """(name, component) pairs in registration order."""
        return list(self._items.items())

    def as_dict(self) -> dict[str, T]:
        """A copy of the registry as a plain dict."""
        return dict(self._items)


Factory = Callable[..., Any]
