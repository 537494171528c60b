"""Per-user publish and subscribe permissions (nats-server's allow/deny lists).

Checks are answered from a small per-subject cache, so a permitted publisher
pays one dict lookup per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from natskern.kernel.subjects.tokens import is_subset, matches, subjects_collide

_CACHE_MAX = 4096


def _as_patterns(values: Iterable[str] | str | None) -> tuple[bytes, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    return tuple(v.encode() for v in values)


class SubjectPermission:
    """One direction's allow and deny lists.

    An empty ``allow`` (None) means everything not denied is allowed; an allow
    list means only what it matches.  Deny always wins.
    """

    __slots__ = ("_cache", "allow", "deny")

    def __init__(self, allow: Iterable[str] | str | None, deny: Iterable[str] | str | None) -> None:
        self.allow: tuple[bytes, ...] | None = None if allow is None else _as_patterns(allow)
        self.deny: tuple[bytes, ...] = _as_patterns(deny)
        self._cache: dict[bytes, bool] = {}

    def allows_publish(self, subject: bytes) -> bool:
        """Whether a message may be published to the literal ``subject``."""
        cached = self._cache.get(subject)
        if cached is not None:
            return cached
        ok = (self.allow is None or any(matches(p, subject) for p in self.allow)) and not any(
            matches(p, subject) for p in self.deny
        )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[subject] = ok
        return ok

    def allows_subscribe(self, subject: bytes, queue: bytes | None = None) -> bool:
        """Whether a subscription on ``subject`` (wildcards allowed) may be made.

        Allow entries may carry a queue (``"subject queue"``): then only that
        queue group may subscribe through them.
        """
        if self.allow is not None and not any(
            self._entry_allows(entry, subject, queue) for entry in self.allow
        ):
            return False
        return not any(self._entry_denies(entry, subject, queue) for entry in self.deny)

    def denies_delivery(self, subject: bytes) -> bool:
        """Whether a message on literal ``subject`` must be withheld (deny on a wildcard sub)."""
        return any(matches(entry.split(b" ", 1)[0], subject) for entry in self.deny)

    def needs_delivery_filter(self, subject: bytes) -> bool:
        """Whether a permitted wildcard subscription overlaps a deny entry."""
        return any(subjects_collide(entry.split(b" ", 1)[0], subject) for entry in self.deny)

    @staticmethod
    def _entry_allows(entry: bytes, subject: bytes, queue: bytes | None) -> bool:
        pattern, _, entry_queue = entry.partition(b" ")
        if entry_queue and entry_queue != (queue or b""):
            return False
        return is_subset(subject, pattern)

    @staticmethod
    def _entry_denies(entry: bytes, subject: bytes, queue: bytes | None) -> bool:
        pattern, _, entry_queue = entry.partition(b" ")
        if entry_queue and entry_queue != (queue or b""):
            return False
        return is_subset(subject, pattern)


@dataclass(frozen=True)
class Permissions:
    """What one user may publish and subscribe to."""

    publish: SubjectPermission | None = None
    subscribe: SubjectPermission | None = None
    allow_responses: bool = False
    responses_max: int = 1
    responses_expires: float = 120.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> Permissions | None:
        """Build from a config ``permissions`` table; None when it grants everything."""
        if not section:
            return None
        publish = _direction(section.get("publish"))
        subscribe = _direction(section.get("subscribe"))
        responses = section.get("allow_responses", False)
        allow_responses = bool(responses)
        responses_max, expires = 1, 120.0
        if isinstance(responses, Mapping):
            responses_max = int(responses.get("max", 1) or 1)
            expires = float(responses.get("expires", 120.0) or 120.0)
        if allow_responses and publish is None:
            publish = SubjectPermission(allow=[], deny=None)
        if publish is None and subscribe is None and not allow_responses:
            return None
        return cls(publish, subscribe, allow_responses, responses_max, expires)


def _direction(value: Any) -> SubjectPermission | None:
    if value is None:
        return None
    if isinstance(value, str | list):
        return SubjectPermission(allow=value, deny=None)
    if isinstance(value, Mapping):
        allow = value.get("allow")
        deny = value.get("deny")
        if allow is None and deny is None:
            return None
        return SubjectPermission(allow=allow, deny=deny)
    return None
