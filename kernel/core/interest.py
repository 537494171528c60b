"""Interest watches: be told when a literal subject gains or loses a subscriber.

A push consumer must start delivering the moment its deliver subject gets a subscriber
and pause when the last one leaves (nats-server's ``updateDeliveryInterest``), without
polling the sublist.  :class:`InterestWatch` (one per account, ``account.interest``)
keeps callbacks by watched literal subject and hooks the account's
:class:`~natskern.kernel.subjects.sublist.Sublist`: every effective insert or remove of a
subscription whose subject matches a watched subject (literal or wildcard, queue or not,
from any kind of session) calls the callbacks of that subject with
``(subject, added)`` after the sublist has changed, so ``sublist.match`` already
answers the new state.

Cost: the sublist calls its ``on_change`` hook only when set, and the hook is set only
while at least one watch exists, so with no watch a SUB or UNSUB pays one falsy check;
the publish path pays nothing.  With watches, a literal change is one dict lookup; a
wildcard change looks at the watched subjects sharing its first token (all of them when
it starts with a wildcard).

Callbacks run synchronously inside the SUB/UNSUB processing: they must be quick and must
not change the sublist (set a flag, wake a task).  An exception in one is logged and does
not affect the subscription or the other callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from natskern.kernel.subjects.sublist import Sublist
from natskern.kernel.subjects.tokens import FWC, PWC, SEP, matches

__all__ = ["InterestCallback", "InterestWatch"]

log = logging.getLogger("natskern.interest")

#: ``callback(watched_subject, added)``: a matching subscription was added (True) or removed.
InterestCallback = Callable[[bytes, bool], None]


class InterestWatch:
    """Callbacks per watched literal subject, fed by one sublist's changes."""

    def __init__(self, sublist: Sublist) -> None:
        """Watch ``sublist`` (the hook is installed only while a watch exists)."""
        self._sublist = sublist
        self._by_subject: dict[bytes, list[InterestCallback]] = {}
        #: Watched subjects by first token (the candidates of a wildcard change).
        self._by_first: dict[bytes, set[bytes]] = {}

    def __len__(self) -> int:
        """How many subjects are watched."""
        return len(self._by_subject)

    def watch(self, subject: bytes, callback: InterestCallback) -> Callable[[], None]:
        """Call ``callback`` on each matching (un)subscribe; return the function that stops it.

        ``subject`` must be literal (no wildcard).  Stopping twice is harmless.
        """
        tokens = subject.split(SEP)
        if PWC in tokens or FWC in tokens or b"" in tokens:
            raise ValueError(f"interest watch needs a literal subject: {subject!r}")
        cbs = self._by_subject.get(subject)
        if cbs is None:
            cbs = self._by_subject[subject] = []
            self._by_first.setdefault(tokens[0], set()).add(subject)
        cbs.append(callback)
        self._sublist.on_change = self._changed

        def cancel() -> None:
            self._unwatch(subject, callback)

        return cancel

    def _unwatch(self, subject: bytes, callback: InterestCallback) -> None:
        cbs = self._by_subject.get(subject)
        if cbs is None:
            return
        for i, cb in enumerate(cbs):
            if cb is callback:
                del cbs[i]
                break
        if cbs:
            return
        del self._by_subject[subject]
        first = subject.partition(SEP)[0]
        keys = self._by_first[first]
        keys.discard(subject)
        if not keys:
            del self._by_first[first]
        if not self._by_subject:
            self._sublist.on_change = None

    def _changed(self, sub: Any, added: bool) -> None:
        """The sublist hook: ``sub`` was inserted (``added``) or removed."""
        pattern: bytes = sub.subject
        tokens = pattern.split(SEP)
        if PWC not in tokens and FWC not in tokens:
            cbs = self._by_subject.get(pattern)
            if cbs:
                self._call(pattern, cbs, added)
            return
        first = tokens[0]
        if first in (PWC, FWC):
            candidates: Any = list(self._by_subject)
        else:
            candidates = list(self._by_first.get(first, ()))
        for subject in candidates:
            if matches(pattern, subject):
                cbs = self._by_subject.get(subject)
                if cbs:
                    self._call(subject, cbs, added)

    @staticmethod
    def _call(subject: bytes, cbs: list[InterestCallback], added: bool) -> None:
        for cb in list(cbs):
            try:
                cb(subject, added)
            except Exception:
                log.exception("interest watch callback for %r failed", subject)
