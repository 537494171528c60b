"""The built-in plugins a ``natskern`` broker loads unless they are blocked.

Built-ins are plugins like any third party's (DESIGN §2): this tuple is the only
place that names them.  The kernel knows none of them; :class:`natskern.Broker`
hands this list to it.
"""

from __future__ import annotations

from typing import Any

import pluggy

from natskern.kernel.plugins import PluginSpec, make_plugin_manager

__all__ = ["DEFAULT_PLUGINS", "MAPPER_PLUGINS", "default_plugin_manager"]

#: The mapping-function families, one plugin module each.
MAPPER_PLUGINS: tuple[PluginSpec, ...] = (
    ("mappers.wildcard", "natskern.plugins.mappers.wildcard"),
    ("mappers.partition", "natskern.plugins.mappers.partition"),
    ("mappers.split", "natskern.plugins.mappers.split"),
    ("mappers.slice", "natskern.plugins.mappers.slice"),
    ("mappers.leftright", "natskern.plugins.mappers.leftright"),
    ("mappers.random", "natskern.plugins.mappers.random"),
)

#: Built-in plugins, loaded unless blocked; (name, module).
DEFAULT_PLUGINS: tuple[PluginSpec, ...] = (
    ("tcp", "natskern.plugins.transports.tcp"),
    ("unix", "natskern.plugins.transports.unix"),
    ("auth", "natskern.plugins.auth.basic"),
    ("accounts", "natskern.plugins.accounts.plugin"),
    ("tls", "natskern.plugins.transports.tls"),
    ("websocket", "natskern.plugins.transports.websocket"),
    ("mappings", "natskern.plugins.mappers.config"),
    ("monitoring", "natskern.plugins.monitoring"),
    ("storage.memory", "natskern.plugins.storage.memory"),
    ("storage.file", "natskern.plugins.storage.file"),
    ("storage.rocksdb", "natskern.plugins.storage.rocksdb"),
    ("jetstream", "natskern.plugins.jetstream.plugin"),
    ("kv", "natskern.plugins.kv.plugin"),
    ("objectstore", "natskern.plugins.objectstore.plugin"),
    ("jetstream.commands", "natskern.plugins.jetstream.commands"),
    ("cluster", "natskern.plugins.cluster"),
    *MAPPER_PLUGINS,
)


def default_plugin_manager(**options: Any) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugins (for commands that need hooks, no broker)."""
    return make_plugin_manager(defaults=DEFAULT_PLUGINS, **options)
