"""The ``[mappings]`` section (server level) and ``[accounts.X] mappings``, wired into accounts.

Each account with mappings gets one compiled :class:`~plugins.mappers.table.MappingTable`;
its ``map`` is what the router calls on every publish in that account.  Accounts without
mappings pay nothing.
"""

from __future__ import annotations

from typing import Any

from natskern.kernel import const
from natskern.kernel.hookspecs import hookimpl
from natskern.plugins.mappers.table import compile_mappings, mappings_schema


@hookimpl
def config_schema() -> dict[str, Any]:
    """The server-level ``[mappings]`` section."""
    return {"mappings": {**mappings_schema(), "default": {}}}


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Compile every account's mappings once, with the registered mapping functions."""
    functions = broker.mapping_functions.as_dict()
    cluster = config.get("cluster", {}).get("name") or None
    sections = {const.GLOBAL_ACCOUNT: config.get("mappings") or {}}
    for name, account in (config.get("accounts") or {}).items():
        sections[name] = account.get("mappings") or {}
    for name, section in sections.items():
        if not section:
            continue
        table = compile_mappings(section, functions, cluster=cluster)
        account = broker.get_account(name)
        account.mapper = table.map
        account.mapper_pure = table.pure
