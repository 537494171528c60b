"""Check the ``exports``/``imports`` of ``[accounts]`` and wire them into the broker's accounts.

Validation follows nats-server (``server.go`` ``configureAccounts``, ``accounts.go``): an
import must match an export of the same kind in the named account (an export on the same
subject first, else one that contains the imported subject), a restricted export only
admits the accounts it lists, duplicates and import cycles are refused.  Error texts reuse
nats-server's wording after a ``accounts.NAME`` location.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from natskern.kernel.core.imports import DEFAULT_RESPONSE_THRESHOLD, Imports, Transform
from natskern.kernel.errors import ConfigError
from natskern.kernel.subjects.tokens import is_subset, is_valid_subject, subjects_collide
from natskern.kernel.subjects.transform import MappingFunction
from natskern.plugins.accounts.transforms import (
    TransformError,
    local_pattern,
    service_mapping,
    stream_transform,
)

__all__ = ["Export", "ImportPlan", "Plan", "plan_imports", "wire"]

log = logging.getLogger("natskern.accounts")

_KINDS = ("stream", "service")


@dataclass(frozen=True)
class Export:
    """One export of one account."""

    account: str
    kind: str
    subject: str
    #: Accounts allowed to import, or None for a public export.
    accounts: frozenset[str] | None = None
    single: bool = True
    threshold: float = DEFAULT_RESPONSE_THRESHOLD

    def admits(self, account: str) -> bool:
        """Whether ``account`` may import this export."""
        return self.accounts is None or account in self.accounts


@dataclass
class ImportPlan:
    """One checked import, ready to be wired."""

    importer: str
    kind: str
    exporter: str
    #: The subject in the exporting account (the import's ``subject``).
    remote: str
    #: The subjects in the importing account (a pattern).
    local: str
    transform: Transform | None
    export: Export
    share: bool = False
    where: str = field(default="", repr=False)


@dataclass
class Plan:
    """The checked ``exports`` (per account) and ``imports`` of a configuration."""

    exports: dict[str, list[Export]]
    imports: list[ImportPlan]


def _kind(entry: Mapping[str, Any]) -> str:
    return "stream" if "stream" in entry else "service"


def _exports(accounts: Mapping[str, Any]) -> dict[str, list[Export]]:
    exports: dict[str, list[Export]] = {}
    for name, section in accounts.items():
        found = exports.setdefault(name, [])
        for i, entry in enumerate(section.get("exports") or ()):
            where = f"accounts.{name}.exports[{i}]"
            kind = _kind(entry)
            subject = entry[kind]
            if not is_valid_subject(subject.encode()):
                raise ConfigError(f'{where}: invalid {kind} export subject "{subject}"')
            allowed = None
            if "accounts" in entry:
                for other in entry["accounts"]:
                    if other not in accounts:
                        raise ConfigError(
                            f'{where}: "{other}" account not defined for {kind} export'
                        )
                allowed = frozenset(entry["accounts"])
            response = str(entry.get("response_type", "single")).lower()
            threshold = entry.get("response_threshold") or DEFAULT_RESPONSE_THRESHOLD
            if threshold <= 0:
                threshold = DEFAULT_RESPONSE_THRESHOLD
            if kind == "stream" and ("response_type" in entry or "response_threshold" in entry):
                raise ConfigError(f"{where}: Detected response directive on non-service")
            found.append(
                Export(name, kind, subject, allowed, response == "single", float(threshold))
            )
    return exports


def _find_export(exports: list[Export], kind: str, subject: str, importer: str) -> Export | None:
    """The export authorizing ``importer`` to import ``subject`` (nats-server's order)."""
    same_kind = [e for e in exports if e.kind == kind]
    for export in same_kind:
        if export.subject == subject:
            return export if export.admits(importer) else None
    raw = subject.encode()
    for export in same_kind:
        if is_subset(raw, export.subject.encode()) and export.admits(importer):
            return export
    return None


def plan_imports(accounts: Mapping[str, Any], functions: Mapping[str, MappingFunction]) -> Plan:
    """Check every export and import of the ``[accounts]`` section.

    Raises :class:`ConfigError` naming the account and, in nats-server's words, the problem.
    """
    exports = _exports(accounts)
    plans: list[ImportPlan] = []
    for name, section in accounts.items():
        streams_seen: set[tuple[str, str]] = set()
        services_seen: dict[str, ImportPlan] = {}
        for i, entry in enumerate(section.get("imports") or ()):
            where = f"accounts.{name}.imports[{i}]"
            kind = _kind(entry)
            source = entry[kind]
            exporter, subject = source["account"], source["subject"]
            if exporter not in accounts:
                raise ConfigError(f'{where}: "{exporter}" account not defined for {kind} import')
            failing = f'{where}: Error adding {kind} import "{subject}"'
            if not is_valid_subject(subject.encode()):
                raise ConfigError(f"{failing}: invalid subject")
            export = _find_export(exports[exporter], kind, subject, name)
            if export is None:
                raise ConfigError(f"{failing}: {kind} import not authorized")
            try:
                if kind == "stream":
                    plan = _stream_plan(name, entry, exporter, subject, export, functions)
                else:
                    plan = _service_plan(name, entry, exporter, subject, export, functions)
            except TransformError as err:
                raise ConfigError(f"{failing}: {err}") from None
            plan.where = where
            if kind == "stream":
                if (exporter, subject) in streams_seen:
                    raise ConfigError(f"{failing}: stream import already exists")
                streams_seen.add((exporter, subject))
            else:
                earlier = services_seen.get(plan.local)
                if earlier is not None:
                    raise ConfigError(
                        f'{where}: Duplicate service import subject "{plan.local}", previously '
                        f'used in import for account "{earlier.exporter}", subject '
                        f'"{earlier.remote}"'
                    )
                services_seen[plan.local] = plan
            plans.append(plan)
    for plan in plans:
        if _forms_cycle(plan, plans):
            raise ConfigError(
                f'{plan.where}: Error adding {plan.kind} import "{plan.remote}": '
                "import forms a cycle"
            )
    return Plan(exports, plans)


def _stream_plan(
    name: str,
    entry: Mapping[str, Any],
    exporter: str,
    subject: str,
    export: Export,
    functions: Mapping[str, MappingFunction],
) -> ImportPlan:
    prefix = entry.get("prefix", "")
    to = entry.get("to", "")
    transform = stream_transform(subject, prefix, to, functions)
    local = local_pattern(subject, prefix, to)
    return ImportPlan(name, "stream", exporter, subject, local, transform, export)


def _service_plan(
    name: str,
    entry: Mapping[str, Any],
    exporter: str,
    subject: str,
    export: Export,
    functions: Mapping[str, MappingFunction],
) -> ImportPlan:
    if entry.get("prefix"):
        log.warning(
            "accounts.%s: the prefix of the service import of %r is ignored (as nats-server does)",
            name,
            subject,
        )
    local, transform = service_mapping(subject, entry.get("to", ""), functions)
    share = bool(entry.get("share", False))
    return ImportPlan(name, "service", exporter, subject, local, transform, export, share)


def _forms_cycle(plan: ImportPlan, plans: list[ImportPlan]) -> bool:
    """Whether what ``plan`` imports can come back to its importer through imports.

    Follows imports of the same kind upstream: from the exporter, every import whose local
    subjects collide with the subjects travelling.  Importing from one's own account is
    allowed, as nats-server allows it.
    """
    if plan.exporter == plan.importer:
        return False
    pending = [(plan.exporter, plan.remote)]
    seen: set[tuple[str, str]] = set()
    while pending:
        account, subject = pending.pop()
        if account == plan.importer:
            return True
        if (account, subject) in seen:
            continue
        seen.add((account, subject))
        for other in plans:
            if (
                other is not plan
                and other.kind == plan.kind
                and other.importer == account
                and other.exporter != account
                and subjects_collide(other.local.encode(), subject.encode())
            ):
                pending.append((other.exporter, other.remote))
    return False


def wire(broker: Any, imports: Imports, plan: Plan) -> None:
    """Create the internal subscriptions of every import; list exports on their accounts."""
    for name, exports in plan.exports.items():
        if exports:
            broker.get_account(name).exports = list(exports)
    for item in plan.imports:
        importer = broker.get_account(item.importer)
        exporter = broker.get_account(item.exporter)
        if item.kind == "stream":
            imports.add_stream(importer, exporter, item.remote.encode(), item.transform)
        else:
            imports.add_service(
                importer,
                exporter,
                item.local.encode(),
                item.transform,
                single=item.export.single,
                threshold=item.export.threshold,
            )
