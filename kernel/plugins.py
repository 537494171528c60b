"""The plugin manager: essential plugins, default plugins, entry points, embedder plugins.

Load order (DESIGN §4): essential plugins (cannot be blocked) → default plugins
(blockable by name in the config's ``[plugins] block`` list or the
``NATSKERN_BLOCK_PLUGINS`` environment variable, comma separated) → the
``natskern`` entry-point group (skipped when autoload is off:
``NATSKERN_DISABLE_PLUGIN_AUTOLOAD=1``) → plugin objects handed over by an
embedding application.  Then ``check_pending()``: a hook implementation that
matches no hookspec fails start-up.

Every broker builds its own manager; there is no module-global one.  The kernel
knows no built-in plugin by name: the application hands its default list in
(``natskern.defaults.DEFAULT_PLUGINS``), so the kernel never imports ``plugins/``.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pluggy
from natskern.kernel import hookspecs
from natskern.kernel.errors import PluginError

#: The entry-point group third-party packages use to add plugins.
ENTRY_POINT_GROUP = "natskern"

#: Plugins the broker cannot run without.
ESSENTIAL_PLUGINS: tuple[tuple[str, str], ...] = (("core", "natskern.kernel.core.settings"),)

#: A plugin list entry: (name, importable module).
PluginSpec = tuple[str, str]

AUTOLOAD_ENV = "NATSKERN_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "NATSKERN_BLOCK_PLUGINS"


def autoload_enabled() -> bool:
    """Whether entry-point plugins are loaded (off when NATSKERN_DISABLE_PLUGIN_AUTOLOAD is set)."""
    return os.environ.get(AUTOLOAD_ENV, "").lower() not in {"1", "true", "yes", "on"}


def blocked_from_env() -> set[str]:
    """Plugin names blocked through the environment."""
    raw = os.environ.get(BLOCK_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def make_plugin_manager(
    *,
    defaults: Sequence[PluginSpec] = (),
    block: Iterable[str] = (),
    load_entrypoints: bool | None = None,
    plugins: Iterable[object] = (),
) -> pluggy.PluginManager:
    """Build a fresh plugin manager with every plugin registered and checked.

    ``defaults`` are the built-in plugins, (name, module) pairs, each loaded
    unless its name is blocked; ``plugins`` are objects registered last.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = set(block) | blocked_from_env()
    essential = {name for name, _ in ESSENTIAL_PLUGINS}
    if blocked & essential:
        raise PluginError(f"essential plugins cannot be blocked: {sorted(blocked & essential)}")
    known = essential | {name for name, _ in defaults}
    for name, module in (*ESSENTIAL_PLUGINS, *defaults):
        if name in blocked:
            pm.set_blocked(name)
            continue
        pm.register(importlib.import_module(module), name=name)
    if load_entrypoints is None:
        load_entrypoints = autoload_enabled()
    if load_entrypoints:
        for name in blocked - known:
            pm.set_blocked(name)
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in plugins:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    return pm


def plugin_listing(pm: pluggy.PluginManager) -> list[tuple[str, list[str]]]:
    """(plugin name, sorted hook names it implements) for every registered plugin."""
    listing = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or ())
        listing.append((name, hooks))
    return listing


def implementations(
    hook: pluggy.HookCaller, *, plugin: object = None
) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Each implementation of ``hook`` on its own, as ``(plugin name, call)`` pairs.

    For the hooks whose results the kernel must attribute to a plugin (registrations,
    schema fragments), which ``pm.hook.name(...)`` would merge anonymously.
    ``call(**kwargs)`` runs the implementation with the keyword arguments it declares
    (pluggy lets an implementation omit any).  Walks ``get_hookimpls()`` order
    (registration order, ``tryfirst``/``trylast`` applied), skips wrappers, and with
    ``plugin`` set yields only that plugin's implementation.
    """
    for impl in hook.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        if plugin is not None and impl.plugin is not plugin:
            continue
        yield impl.plugin_name, functools.partial(_call_impl, impl.function, impl.argnames)


def _call_impl(function: Callable[..., Any], argnames: Sequence[str], **kwargs: Any) -> Any:
    return function(**{name: kwargs[name] for name in argnames if name in kwargs})
