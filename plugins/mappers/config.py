"""The ``[mappings]`` section (server level) and ``[accounts.X] mappings``, wired into accounts.

Each account with mappings gets one compiled :class:`~plugins.mappers.table.MappingTable`;
its ``map`` is what the router calls on every publish in that account.  Accounts without
mappings pay nothing.
"""

from __future__ import annotations

from typing import Any

from natskern.kernel import const
from natskern.kernel.config import LIVE, RELOAD
from natskern.kernel.hookspecs import hookimpl
from natskern.plugins.mappers.table import compile_mappings, mappings_schema


@hookimpl
def config_schema() -> dict[str, Any]:
    """The server-level ``[mappings]`` section and ``mappings`` inside every account.

    Both may change on a reload.
    """
    return {
        "mappings": {**mappings_schema(), "default": {}, RELOAD: LIVE},
        "accounts.*.mappings": {**mappings_schema(), RELOAD: LIVE},
    }


@hookimpl
def reload(broker: Any, old: dict[str, Any], new: dict[str, Any], changes: Any) -> None:
    """Changed mappings: compile every account's again (the old tables are dropped)."""
    if not changes.touches("mappings", "accounts.*.mappings"):
        return
    for account in broker.accounts.values():
        account.mapper = None
    configure(broker, new)


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
