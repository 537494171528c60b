"""Subject-mapping functions, one plugin module per function family.

Each module implements ``register_mapping_functions`` and registers objects that follow
:class:`kernel.subjects.transform.MappingFunction`; the kernel compiles every mapping once
(:func:`kernel.subjects.transform.compile_mapping`) and only the compiled ops run per message.
"""

from __future__ import annotations

__all__ = ["MAPPER_PLUGINS"]

#: ``(plugin name, module)`` pairs for ``kernel.plugins.DEFAULT_PLUGINS``.
MAPPER_PLUGINS: tuple[tuple[str, str], ...] = (
    ("mappers.wildcard", "plugins.mappers.wildcard"),
    ("mappers.partition", "plugins.mappers.partition"),
    ("mappers.split", "plugins.mappers.split"),
    ("mappers.slice", "plugins.mappers.slice"),
    ("mappers.leftright", "plugins.mappers.leftright"),
    ("mappers.random", "plugins.mappers.random"),
)
