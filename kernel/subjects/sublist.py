"""The routing structure of the publish path: a subject trie with a per-subject result cache.

Mirrors nats-server's ``sublist.go``. Subscriptions are stored in a trie keyed by subject
token; each node has a dict of literal children plus one ``*`` and one ``>`` slot, and keeps
its plain subscriptions and its queue subscriptions grouped by queue name.

``Sublist.match(subject)`` first looks the literal subject up in a bounded cache of
immutable ``SublistResult`` objects (one dict lookup on a hit); a miss walks the trie. The
result is cached on a subject's *second* miss: a small "seen once" set acts as doorkeeper,
so the unique subjects of request-reply (``_INBOX.x.N``) and of acks never enter the cache.
That keeps hot subjects from being swept out by them and keeps the cache small.

Subjects of more than ``DEEP_TOKENS`` tokens whose result is fixed by their first
``DEEP_TOKENS`` tokens (every branch of the walk stops within them: no subscription looks
deeper, e.g. ``$JS.ACK.<stream>.<consumer>.<n>.…`` under ``$JS.ACK.<stream>.<consumer>.>``)
are served from a second small cache keyed by that prefix, so unique subjects of that shape
(acks) cost one lookup instead of a walk; one that comes back (a KV key under
``$KV.<bucket>.>``) still enters the per-subject cache on its second miss, where a
hit costs no split.  Any subscription change clears it.

Inserts and removes keep the cache exact by walking the affected entries again (so a result
is always in walk order, whenever its subject entered the cache): a literal subscription
touches at most the one entry for its subject; a wildcard one looks only at the cached keys
that share its first token (an index kept for this, updated only when a key enters or leaves
the cache), or clears the cache if its first token is a wildcard.

Subscriptions are any objects with ``.subject: bytes`` and ``.queue: bytes | None``
(``None`` or ``b""`` = not a queue subscription); they are stored and removed by identity,
so they need not be hashable. The class is not thread-safe: it lives on one event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from natskern.kernel.subjects.tokens import FWC, PWC, SEP, matches
from natskern.kernel.subjects.trie import (
    _DEEP_SIZE,
    DEEP_TOKENS,
    EMPTY_RESULT,
    SublistResult,
    _last_is_free,
    _literal_prefix,
    _new_result,
    _Node,
    _split_checked,
    _stops_within,
    _walk,
)

__all__ = ["EMPTY_RESULT", "Sublist", "SublistResult"]


class Sublist:
    """Subscriptions indexed by subject for fast matching of published subjects.

    ``count`` (stored subscriptions) and ``generation`` (bumped on every effective insert or
    remove, so a connection may keep its own small cache and drop it when this changes) are
    plain attributes for cheap reads; treat them as read-only.
    """

    def __init__(self, cache_size: int = 4096) -> None:
        """Create an empty sublist whose result cache holds at most ``cache_size`` subjects.

        ``cache_size <= 0`` disables the cache (every match walks the trie).
        """
        self._root = _Node()
        self._cache: dict[bytes, SublistResult] = {}
        # Results by the first DEEP_TOKENS tokens, for longer subjects that depend on no more,
        # and by all but the last token, for shorter subjects whose last token decides nothing.
        self._deep: dict[bytes, SublistResult] = {}
        #: ``peek(subject)``: the cached result, or None; not counted as a match (a caller
        #: serving many messages counts its hits with ``count_matches``).
        self.peek: Callable[[bytes], SublistResult | None] = self._cache.get
        # Subjects that missed once since the doorkeeper was last reset (see module doc).
        self._seen: set[bytes] = set()
        # The same for subjects served by their prefix (``_deep``).
        self._seen_deep: set[bytes] = set()
        # Cached keys by first token: the candidates a wildcard change has to look at.
        self._by_first: dict[bytes, set[bytes]] = {}
        self._cache_size = cache_size
        # When the cache overflows it is cut back to three quarters of its size.
        self._cache_keep = (cache_size * 3) // 4
        self.count = 0
        self.generation = 0
        #: ``on_change(sub, added)``, called after every effective insert (True) or remove
        #: (False) when set; None (the default) costs a change one falsy check.  Set by
        #: :class:`~natskern.kernel.core.interest.InterestWatch` while it has watches.
        self.on_change: Callable[[Any, bool], None] | None = None
        self._inserts = 0
        self._removes = 0
        self._matches = 0
        self._misses = 0

    # -- hot path ---------------------------------------------------------------------------

    def match(self, subject: bytes) -> SublistResult:
        """Return the subscriptions matching the literal ``subject``.

        The result is shared and immutable; iterate it, never modify it. A subject with an
        empty token matches nothing. From its second miss on, a subject is served from the
        cache.
        """
        self._matches += 1
        result = self._cache.get(subject)  # (not a KeyError per miss: acks always miss)
        if result is not None:
            return result
        return self._match_miss(subject)

    def _walk_result(self, tokens: list[bytes]) -> SublistResult:
        """The result for a literal subject split into ``tokens`` (no empty token), uncached."""
        psubs: list[Any] = []
        qsubs: dict[bytes, list[Any]] = {}
        _walk(self._root, tokens, 0, psubs, qsubs)
        if qsubs:
            return _new_result(tuple(psubs), tuple(map(tuple, qsubs.values())))
        if psubs:
            return _new_result(tuple(psubs), ())
        return EMPTY_RESULT

    def count_matches(self, count: int) -> None:
        """Count ``count`` more matches served from one ``match`` call (a run of messages)."""
        self._matches += count

    def _match_miss(self, subject: bytes) -> SublistResult:
        """Walk the trie for ``subject`` and cache the result (or its prefix's)."""
        if not subject or b".." in subject or subject[0] == 46 or subject[-1] == 46:
            self._misses += 1  # an empty token ("." is 46) matches nothing
            return EMPTY_RESULT
        # A deep subject (an ack, a direct get) is looked up by its first tokens before
        # it is split whole: the common hit costs one bounded split and a slice. A shorter
        # one is looked up by all but its last token (the prefix cache holds both kinds:
        # a deep key has DEEP_TOKENS tokens, a last-token key fewer).
        head = subject.split(SEP, DEEP_TOKENS)
        deep = len(head) > DEEP_TOKENS
        if deep:
            key = subject[: len(subject) - len(head[DEEP_TOKENS]) - 1]
            tokens = subject.split(SEP)
        else:
            tokens = head
            key = subject[: len(subject) - len(tokens[-1]) - 1] if len(tokens) > 1 else b""
        if key:
            result = self._deep.get(key)
            if result is not None:
                # a subject that comes back (a KV key under ``$KV.<bucket>.>``) still
                # enters the cache on its second miss; a unique one (a reply inbox) never
                # does, and has a doorkeeper of its own so as not to sweep out the other's
                self._admit(self._seen_deep, subject, tokens[0], result)
                return result
        self._misses += 1
        result = self._walk_result(tokens)
        if self._cache_size <= 0:
            return result
        if key and (
            _stops_within(self._root, tokens, 0, DEEP_TOKENS)
            if deep
            else _last_is_free(self._root, tokens, 0)
        ):
            if len(self._deep) >= _DEEP_SIZE:
                self._deep.clear()
            self._deep[key] = result
            return result
        self._admit(self._seen, subject, tokens[0], result)
        return result

    def _admit(self, seen: set[bytes], subject: bytes, first: bytes, result: SublistResult) -> None:
        """``subject`` (first token ``first``) missed: cache ``result`` if the doorkeeper
        ``seen`` saw it miss before, else let the doorkeeper remember it."""
        if subject in seen:
            seen.discard(subject)
            self._cache_result(subject, first, result)
        else:
            if len(seen) >= self._cache_size:
                seen.clear()
            seen.add(subject)

    def _cache_result(self, subject: bytes, first: bytes, result: SublistResult) -> None:
        """Cache ``result`` for ``subject`` (whose first token is ``first``)."""
        cache = self._cache
        cache[subject] = result
        keys = self._by_first.get(first)
        if keys is None:
            self._by_first[first] = {subject}
        else:
            keys.add(subject)
        if len(cache) > self._cache_size:
            self._sweep_cache()

    def _sweep_cache(self) -> None:
        """Drop the oldest-inserted cache entries until three quarters remain."""
        for key in list(islice(self._cache, len(self._cache) - self._cache_keep)):
            self._forget(key)

    def _forget(self, key: bytes) -> None:
        """Drop one cache entry and its index entry."""
        del self._cache[key]
        first = key.partition(SEP)[0]
        keys = self._by_first[first]
        keys.discard(key)
        if not keys:
            del self._by_first[first]

    def _clear_cache(self) -> None:
        """Drop every cache entry."""
        self._cache.clear()
        self._by_first.clear()
        self._deep.clear()

    # -- changes ----------------------------------------------------------------------------

    def insert(self, sub: Any) -> None:
        """Store ``sub`` under ``sub.subject`` (and ``sub.queue`` if set).

        Inserting an object that is already stored is a no-op. Raises ValueError for a
        subject with an empty token or a ``>`` that is not the last token.
        """
        subject: bytes = sub.subject
        queue: bytes | None = sub.queue or None
        tokens = _split_checked(subject)
        node = self._root
        literal = True
        for token in tokens:
            if token == PWC:
                literal = False
                child = node.pwc
                if child is None:
                    child = node.pwc = _Node()
            elif token == FWC:
                literal = False
                child = node.fwc
                if child is None:
                    child = node.fwc = _Node()
            else:
                children = node.nodes
                if children is None:
                    children = node.nodes = {}
                child = children.get(token)
                if child is None:
                    child = children[token] = _Node()
            node = child

        key = id(sub)
        if queue is None:
            members = node.psubs
            if members is None:
                members = node.psubs = {}
        else:
            groups = node.qsubs
            if groups is None:
                groups = node.qsubs = {}
            members = groups.get(queue)
            if members is None:
                members = groups[queue] = {}
        if key in members:
            return
        members[key] = sub

        self.count += 1
        self._inserts += 1
        self.generation += 1
        if self._deep:
            self._deep.clear()
        if self._cache:
            self._refresh_cache(subject, tokens, literal)
        if self.on_change:
            self.on_change(sub, True)

    def remove(self, sub: Any) -> bool:
        """Remove the object ``sub`` (by identity); return False if it was not stored."""
        subject: bytes = sub.subject
        queue: bytes | None = sub.queue or None
        tokens = subject.split(SEP)
        if not self._unlink(sub, tokens, queue):
            return False
        self.generation += 1
        if self._deep:
            self._deep.clear()
        if self._cache:
            literal = PWC not in tokens and FWC not in tokens
            self._refresh_cache(subject, tokens, literal)
        if self.on_change:
            self.on_change(sub, False)
        return True

    def remove_batch(self, subs: Iterable[Any]) -> int:
        """Remove many subscriptions (a closing connection's); return how many were stored.

        Cheaper than one ``remove`` each when several are wildcards: affected cache entries
        are dropped in a single pass over the cache instead of one pass per wildcard.
        """
        on_change = self.on_change
        if not on_change:
            return self._remove_batch(subs, None)
        gone: list[Any] = []
        removed = self._remove_batch(subs, gone)
        for sub in gone:
            on_change(sub, False)
        return removed

    def _remove_batch(self, subs: Iterable[Any], gone: list[Any] | None) -> int:
        """:meth:`remove_batch`; the subscriptions removed are appended to ``gone``."""
        removed = 0
        literals: list[bytes] = []
        patterns: list[tuple[bytes, list[bytes]]] = []
        for sub in subs:
            subject: bytes = sub.subject
            tokens = subject.split(SEP)
            if not self._unlink(sub, tokens, sub.queue or None):
                continue
            removed += 1
            if gone is not None:
                gone.append(sub)
            if PWC in tokens or FWC in tokens:
                patterns.append((subject, tokens))
            else:
                literals.append(subject)
        if not removed:
            return 0
        self.generation += 1
        if self._deep:
            self._deep.clear()
        cache = self._cache
        if not cache:
            return removed
        stale = {subject for subject in literals if subject in cache}
        for pattern, tokens in patterns:
            candidates = self._candidates(pattern, tokens)
            if candidates is None:
                self._clear_cache()
                return removed
            stale.update(candidates)
        for key in stale:
            self._forget(key)
        return removed

    def _unlink(self, sub: Any, tokens: list[bytes], queue: bytes | None) -> bool:
        """Take ``sub`` out of the trie and prune emptied nodes; False if it was not there."""
        path: list[tuple[_Node, bytes, _Node]] = []
        node = self._root
        for token in tokens:
            if token == PWC:
                child = node.pwc
            elif token == FWC:
                child = node.fwc
            else:
                children = node.nodes
                child = children.get(token) if children is not None else None
            if child is None:
                return False
            path.append((node, token, child))
            node = child

        key = id(sub)
        if queue is None:
            members = node.psubs
            if members is None or members.get(key) is not sub:
                return False
            del members[key]
            if not members:
                node.psubs = None
        else:
            groups = node.qsubs
            members = groups.get(queue) if groups is not None else None
            if groups is None or members is None or members.get(key) is not sub:
                return False
            del members[key]
            if not members:
                del groups[queue]
                if not groups:
                    node.qsubs = None
        self._prune(path)
        self.count -= 1
        self._removes += 1
        return True

    @staticmethod
    def _prune(path: list[tuple[_Node, bytes, _Node]]) -> None:
        """Unlink the empty nodes at the bottom of ``path``."""
        for parent, token, child in reversed(path):
            if not child.is_empty():
                return
            if token == PWC:
                parent.pwc = None
            elif token == FWC:
                parent.fwc = None
            else:
                children = parent.nodes
                del children[token]  # type: ignore[union-attr]
                if not children:
                    parent.nodes = None

    def _refresh_cache(self, subject: bytes, tokens: list[bytes], literal: bool) -> None:
        """Walk again every cached result that the (un)subscribed ``subject`` matches.

        Walking rather than patching keeps every result in walk order, whenever its subject
        entered the cache.
        """
        cache = self._cache
        if literal:
            if subject in cache:
                cache[subject] = self._walk_result(tokens)
            return
        hits = self._candidates(subject, tokens)
        if hits is None:
            self._clear_cache()
            return
        for key in hits:
            cache[key] = self._walk_result(key.split(SEP))

    def _candidates(self, pattern: bytes, tokens: list[bytes]) -> list[bytes] | None:
        """The cached keys the wildcard ``pattern`` (split into ``tokens``) matches.

        None when the pattern starts with a wildcard: every key would be a candidate, and a
        full scan costs more than refilling the cache.
        """
        first = tokens[0]
        if first in (PWC, FWC):
            # (even when a literal subject "*" or ">" was published and cached: the keys
            # under that first token are not all the candidates)
            return None
        keys = self._by_first.get(first)
        if not keys:
            return []
        prefix = _literal_prefix(tokens)
        return [k for k in keys if k.startswith(prefix) and matches(pattern, k)]

    # -- monitoring -------------------------------------------------------------------------

    def subscriptions(self) -> list[Any]:
        """Return every stored subscription (in no particular order)."""
        found: list[Any] = []
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node.psubs:
                found.extend(node.psubs.values())
            if node.qsubs:
                for members in node.qsubs.values():
                    found.extend(members.values())
            if node.nodes:
                stack.extend(node.nodes.values())
            if node.pwc is not None:
                stack.append(node.pwc)
            if node.fwc is not None:
                stack.append(node.fwc)
        return found

    def stats(self, *, seen: bool = False) -> dict[str, int | float]:
        """Return counters with nats-server's ``/subsz`` field names.

        Fan-out is computed over the cached results (plain subscriptions plus one per queue
        group), as nats-server does.  nats-server caches a subject's result on its first
        match, where this cache waits for the second; ``seen=True`` (what ``/subsz``
        reports) counts the subjects matched once as cached too, with the fan-out a match
        would give now (walked here: stats are rare, matches are not).
        """
        matched = self._matches
        fanouts = [len(r.psubs) + len(r.qsubs) for r in self._cache.values()]
        if seen:
            for subject in self._seen:
                result = self._walk_result(subject.split(SEP))
                fanouts.append(len(result.psubs) + len(result.qsubs))
        total = sum(fanouts)
        return {
            "num_subscriptions": self.count,
            "num_cache": len(fanouts),
            "num_inserts": self._inserts,
            "num_removes": self._removes,
            "num_matches": matched,
            "cache_hit_rate": (matched - self._misses) / matched if matched else 0.0,
            "max_fanout": max(fanouts, default=0),
            "avg_fanout": total / len(fanouts) if total else 0.0,
        }
