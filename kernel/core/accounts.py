"""Accounts: isolated subject spaces, and the identity a session authenticates as."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from natskern.kernel.core.interest import InterestWatch
from natskern.kernel.core.permissions import Permissions
from natskern.kernel.subjects.sublist import Sublist

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.client import Client

#: ``mapper(subject) -> subject`` applied to every publish in an account with mappings.
SubjectMapper = Callable[[bytes], bytes]


class Account:
    """One subject space: its own routing trie, mappings, imports and exports.

    Every session belongs to exactly one account; messages never cross
    accounts except through an export that another account imports.
    """

    def __init__(self, name: str, *, system: bool = False) -> None:
        self.name = name
        self.system = system
        self.sublist = Sublist()
        #: Callbacks told when a watched literal subject gains or loses a subscriber.
        self.interest = InterestWatch(self.sublist)
        #: Set by the mapping plugin when the account has subject mappings.
        self.mapper: SubjectMapper | None = None
        #: False when ``mapper`` may map one subject differently each time (weighted or
        #: random destinations): a run of messages is then mapped message by message.
        self.mapper_pure = True
        self.clients: set[Client] = set()
        self.exports: list[Any] = []
        self.imports: list[Any] = []
        #: Free-form settings of plugins (jetstream limits, ...).
        self.settings: dict[str, Any] = {}
        self.in_msgs = 0
        self.in_bytes = 0

    def __repr__(self) -> str:
        return f"<Account {self.name}>"


@dataclass(frozen=True)
class Identity:
    """Who a session authenticated as: the account it joins and what it may do."""

    account: str
    user: str = ""
    permissions: Permissions | None = None
    #: Free-form facts for monitoring (auth method, nkey, ...).
    extra: dict[str, Any] = field(default_factory=dict)
