"""The account's interest watches (kernel/core/interest.py) over its sublist."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from natskern.kernel.core.accounts import Account


@dataclass(eq=False)
class Sub:
    """The two attributes a sublist needs of a subscription."""

    subject: bytes
    queue: bytes | None = None


def test_literal_wildcard_and_queue_subscriptions_notify() -> None:
    acc = Account("A")
    seen: list[tuple[bytes, bool]] = []
    stop = acc.interest.watch(b"d.x", lambda s, added: seen.append((s, added)))
    assert acc.sublist.on_change is not None
    subs = [Sub(b"d.x"), Sub(b"d.*"), Sub(b">"), Sub(b"d.x", b"q"), Sub(b"*.x")]
    for sub in subs:
        acc.sublist.insert(sub)
    acc.sublist.insert(Sub(b"d.y"))  # not a match
    acc.sublist.insert(Sub(b"e.*"))
    acc.sublist.insert(subs[0])  # already stored: no change, no call
    assert seen == [(b"d.x", True)] * 5
    seen.clear()
    acc.sublist.remove(subs[0])
    acc.sublist.remove(subs[0])  # not stored any more
    assert acc.sublist.remove_batch(subs[1:]) == 4
    assert seen == [(b"d.x", False)] * 5
    stop()
    stop()  # harmless
    assert acc.sublist.on_change is None
    acc.sublist.insert(Sub(b"d.x"))
    assert len(seen) == 5


def test_callback_sees_the_new_state_and_errors_are_contained() -> None:
    acc = Account("A")
    states: list[bool] = []

    def bad(subject: bytes, added: bool) -> None:
        raise RuntimeError("boom")

    def good(subject: bytes, added: bool) -> None:
        states.append(bool(acc.sublist.match(subject).psubs))

    stop_bad = acc.interest.watch(b"a.b", bad)
    stop_good = acc.interest.watch(b"a.b", good)
    acc.sublist.match(b"a.b")
    acc.sublist.match(b"a.b")  # cached from here on
    sub = Sub(b"a.>")
    acc.sublist.insert(sub)
    acc.sublist.remove(sub)
    assert states == [True, False]
    stop_bad()
    stop_good()
    assert len(acc.interest) == 0 and acc.sublist.on_change is None


def test_watch_needs_a_literal_subject() -> None:
    acc = Account("A")
    with pytest.raises(ValueError):
        acc.interest.watch(b"a.*", lambda s, a: None)
