"""The trie under :class:`~natskern.kernel.subjects.sublist.Sublist`: nodes, walk, results.

Subscriptions are stored in a trie keyed by subject token; each node has a dict of
literal children plus one ``*`` and one ``>`` slot, and keeps its plain subscriptions
and its queue subscriptions grouped by queue name (nats-server's ``sublist.go`` layout).
:func:`_walk` collects what matches a literal subject in nats-server's order, into an
immutable, shared :class:`SublistResult`; :func:`_stops_within` and
:func:`_last_is_free` tell the sublist's caches when a result depends on a prefix only.
"""

from __future__ import annotations

from typing import Any

from natskern.kernel.subjects.tokens import FWC, PWC, SEP

__all__ = [
    "DEEP_TOKENS",
    "EMPTY_RESULT",
    "SublistResult",
]


class SublistResult:
    """The subscriptions matching one literal subject; immutable and shared.

    ``psubs`` is a tuple of plain subscriptions. ``qsubs`` is a tuple with one non-empty
    tuple of member subscriptions per queue group name (members of one name are merged
    across all matching patterns, as nats-server does). A result with no match is always the
    shared ``EMPTY_RESULT`` object, so ``result is EMPTY_RESULT`` tests for no interest.
    """

    __slots__ = ("psubs", "qsubs")

    psubs: tuple[Any, ...]
    qsubs: tuple[tuple[Any, ...], ...]

    def __init__(
        self, psubs: tuple[Any, ...] = (), qsubs: tuple[tuple[Any, ...], ...] = ()
    ) -> None:
        _set_psubs(self, psubs)
        _set_qsubs(self, qsubs)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SublistResult is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SublistResult is immutable")

    def __repr__(self) -> str:
        return f"SublistResult(psubs={self.psubs!r}, qsubs={self.qsubs!r})"


# Writing the slots through their descriptors skips the refusing __setattr__ and, in
# _new_result, the __init__ frame: results are built on every cache miss.
_set_psubs = SublistResult.__dict__["psubs"].__set__
_set_qsubs = SublistResult.__dict__["qsubs"].__set__
_alloc = object.__new__


def _new_result(psubs: tuple[Any, ...], qsubs: tuple[tuple[Any, ...], ...]) -> SublistResult:
    """Build a (non-empty) result without the cost of a Python ``__init__`` call."""
    result = _alloc(SublistResult)
    _set_psubs(result, psubs)
    _set_qsubs(result, qsubs)
    return result


EMPTY_RESULT = SublistResult()
"""The shared result for a subject nothing is subscribed to."""


class _Node:
    """One trie position: children for the next token and the subscriptions ending here.

    ``nodes``, ``psubs`` and ``qsubs`` stay ``None`` until needed, which keeps the many
    leaf nodes of a large sublist small. ``psubs`` maps ``id(sub)`` to sub; ``qsubs`` maps a
    queue name to such a dict.
    """

    __slots__ = ("fwc", "nodes", "psubs", "pwc", "qsubs")

    def __init__(self) -> None:
        self.nodes: dict[bytes, _Node] | None = None
        self.pwc: _Node | None = None
        self.fwc: _Node | None = None
        self.psubs: dict[int, Any] | None = None
        self.qsubs: dict[bytes, dict[int, Any]] | None = None

    def is_empty(self) -> bool:
        """True if the node holds no subscription and has no child (it can be pruned)."""
        return not (self.psubs or self.qsubs or self.nodes) and self.pwc is self.fwc is None


def _collect_queues(groups: dict[bytes, dict[int, Any]], qsubs: dict[bytes, list[Any]]) -> None:
    """Merge a node's queue groups into the groups of the result being built."""
    for name, members in groups.items():
        group = qsubs.get(name)
        if group is None:
            qsubs[name] = list(members.values())
        else:
            group.extend(members.values())


def _walk(
    node: _Node,
    tokens: list[bytes],
    start: int,
    psubs: list[Any],
    qsubs: dict[bytes, list[Any]],
) -> None:
    """Collect every subscription under ``node`` matching ``tokens[start:]``.

    The order is nats-server's: at each level the ``>`` node, then what lies under the
    ``*`` node; after the last token the literal node, then the ``*`` node.  Plain
    subscriptions are appended inline (the common case); only queue groups and ``*``
    branches that continue deeper cost a call.
    """
    last = len(tokens) - 1
    wild = None
    for i in range(start, last + 1):
        fwc = node.fwc
        if fwc is not None:
            if fwc.psubs:
                psubs.extend(fwc.psubs.values())
            if fwc.qsubs:
                _collect_queues(fwc.qsubs, qsubs)
        wild = node.pwc
        if wild is not None and i < last:
            _walk(wild, tokens, i + 1, psubs, qsubs)
        children = node.nodes
        node = None if children is None else children.get(tokens[i])  # type: ignore[assignment]
        if node is None:
            break
    if node is not None:
        if node.psubs:
            psubs.extend(node.psubs.values())
        if node.qsubs:
            _collect_queues(node.qsubs, qsubs)
    if wild is not None and i == last:
        if wild.psubs:
            psubs.extend(wild.psubs.values())
        if wild.qsubs:
            _collect_queues(wild.qsubs, qsubs)


#: Subjects longer than this many tokens may be served by the prefix ("deep") cache.
DEEP_TOKENS = 5
_DEEP_SIZE = 1024


def _stops_within(node: _Node, tokens: list[bytes], start: int, limit: int) -> bool:
    """True if every branch of :func:`_walk` from ``node`` at ``start`` stops on a missing
    child before token ``limit`` (so the result depends only on ``tokens[:limit]``, given that
    more tokens follow)."""
    last = len(tokens) - 1
    for i in range(start, last + 1):
        if i >= limit:
            return False
        wild = node.pwc
        if wild is not None and i < last and not _stops_within(wild, tokens, i + 1, limit):
            return False
        children = node.nodes
        node = None if children is None else children.get(tokens[i])  # type: ignore[assignment]
        if node is None:
            return True
    return False


def _last_is_free(node: _Node, tokens: list[bytes], start: int) -> bool:
    """True if no branch of :func:`_walk` from ``node`` at ``start`` reaches the last token
    at a node with literal children: then every subject that differs from ``tokens`` only
    in its last token has the same result (a reply inbox ``_INBOX.<id>.<token>`` under
    one ``_INBOX.<id>.*`` subscription)."""
    last = len(tokens) - 1
    for i in range(start, last):
        wild = node.pwc
        if wild is not None and not _last_is_free(wild, tokens, i + 1):
            return False
        children = node.nodes
        node = None if children is None else children.get(tokens[i])  # type: ignore[assignment]
        if node is None:
            return True
    return not node.nodes


def _split_checked(subject: bytes) -> list[bytes]:
    """Tokenize a subscription subject, raising ValueError if the trie cannot hold it."""
    tokens = subject.split(SEP)
    if b"" in tokens or FWC in tokens[:-1]:
        raise ValueError(f"invalid subscription subject {subject!r}")
    return tokens


def _literal_prefix(tokens: list[bytes]) -> bytes:
    """The bytes before the first wildcard token of a pattern, with the trailing separator."""
    for i, token in enumerate(tokens):
        if token in (PWC, FWC):
            return SEP.join(tokens[:i]) + SEP if i else b""
    raise ValueError("not a wildcard pattern")
