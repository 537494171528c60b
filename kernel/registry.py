"""Typed registries filled by the ``register_*`` hooks, one call per plugin.

One mechanism for every kind of named component: the broker's transports, storage
backends and mapping functions (and :func:`natskern.kernel.subjects.transform.collect_functions`
for a plugin manager without a broker) are each a :class:`Registry` that knows its hook,
checks each component's shape when it is registered, and rejects a duplicate name with
an error naming both plugins.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pluggy
from natskern.kernel.errors import PluginError
from natskern.kernel.plugins import implementations

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.transport import TransportFactory
    from natskern.kernel.store.api import StreamStoreFactory
    from natskern.kernel.subjects.transform import MappingFunction

__all__ = [
    "Check",
    "Registry",
    "callable_with",
    "has_method",
    "is_callable",
    "mapping_function_registry",
    "storage_backend_registry",
    "transport_registry",
]

T = TypeVar("T")

#: A shape check: ``check(component)`` returns what is wrong with it (``"is not callable"``),
#: or None when the component is fine.
Check = Callable[[Any], "str | None"]


def _cannot_take(function: Callable[..., Any], params: tuple[str, ...]) -> bool:
    """Whether ``function`` certainly cannot be called with ``len(params)`` positional args."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return False
    try:
        signature.bind(*params)
    except TypeError:
        return True
    return False


def is_callable(component: Any) -> str | None:
    """A check: the component is callable (its arguments are not checked)."""
    return None if callable(component) else "which is not callable"


def callable_with(*params: str) -> Check:
    """A check: the component is callable with the positional arguments named ``params``."""
    spelled = f"({', '.join(params)})"

    def check(component: Any) -> str | None:
        if not callable(component):
            return "which is not callable"
        if _cannot_take(component, params):
            return f"which cannot be called as {spelled}"
        return None

    return check


def has_method(name: str, *params: str) -> Check:
    """A check: the component has a method ``name`` callable with the arguments ``params``."""
    spelled = f"{name}({', '.join(params)})"

    def check(component: Any) -> str | None:
        method = getattr(component, name, None)
        if not callable(method):
            return f"without {spelled}"
        if _cannot_take(method, params):
            return f"whose {name}() cannot be called as {spelled}"
        return None

    return check


class Registry(Generic[T]):
    """Named components of one kind (transports, storage backends, mapping functions).

    ``hook`` is the ``register_*`` hook that fills it (see :meth:`collect`); ``check``
    validates each component's shape on registration.  A name registered twice is an
    error naming both plugins.  Names are compared as given, or lower-cased when
    ``casefold`` is set (mapping functions, like nats-server).
    """

    def __init__(
        self,
        kind: str,
        *,
        hook: str = "",
        check: Check | None = None,
        casefold: bool = False,
    ) -> None:
        self.kind = kind
        self.hook = hook
        self.check = check
        self.casefold = casefold
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}

    def _key(self, name: str) -> str:
        return name.lower() if self.casefold else name

    def add(self, name: str, component: T, owner: str) -> None:
        """Register ``component`` under ``name`` on behalf of plugin ``owner``.

        Raises :class:`PluginError` for an empty name, a name taken by any plugin
        (``owner`` included), or a component of the wrong shape.
        """
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {owner!r} registered a {self.kind} without name")
        key = self._key(name)
        if key in self._owners:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {self._owners[key]!r} "
                f"and by plugin {owner!r}"
            )
        problem = self.check(component) if self.check is not None else None
        if problem is not None:
            raise PluginError(f"plugin {owner!r} registered {self.kind} {name!r} {problem}")
        self._items[key] = component
        self._owners[key] = owner

    def collect(
        self, pm: pluggy.PluginManager, hook_name: str = "", plugin: object = None
    ) -> Registry[T]:
        """Call the hook (``hook_name``, else :attr:`hook`) of every plugin, or only ``plugin``.

        Each implementation receives its own ``register(name, component)`` callback, so a
        component is attributed to the plugin that registered it.  Returns ``self``.
        """
        name = hook_name or self.hook
        if not name:
            raise PluginError(f"no hook given to collect {self.kind}s with")
        for owner, call in implementations(getattr(pm.hook, name), plugin=plugin):

            def register(component_name: str, component: T, _owner: str = owner) -> None:
                self.add(component_name, component, _owner)

            call(register=register)
        return self

    def get(self, name: str) -> T | None:
        """The component registered under ``name``, or None."""
        return self._items.get(self._key(name))

    def owner(self, name: str) -> str | None:
        """The plugin that registered ``name``."""
        return self._owners.get(self._key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        """(name, component) pairs in registration order."""
        return list(self._items.items())

    def as_dict(self) -> dict[str, T]:
        """A copy of the registry as a plain dict (keys lower-cased when ``casefold``)."""
        return dict(self._items)


def transport_registry() -> Registry[TransportFactory]:
    """The broker's transports: ``factory(broker, section)`` callables."""
    return Registry(
        "transport", hook="register_transports", check=callable_with("broker", "section")
    )


def storage_backend_registry() -> Registry[StreamStoreFactory]:
    """The broker's storage backends: stream store factories (callables)."""
    return Registry("storage backend", hook="register_storage_backends", check=is_callable)


def mapping_function_registry() -> Registry[MappingFunction]:
    """The mapping functions: objects with ``compile(args, wildcard_count)``, names case-folded."""
    return Registry(
        "mapping function",
        hook="register_mapping_functions",
        check=has_method("compile", "args", "wildcard_count"),
        casefold=True,
    )
