"""Repeated measurements: each scenario run several rounds, the servers' order alternating.

On a shared, noisy machine one run of a scenario on each server can move by more
than a target allows (``--reference natskern-nojs`` wants 5 %).  ``run.py --rounds N``
runs every scenario (core and JetStream) N times on each server, the second server first in every
other round (so that a drift of the machine's speed favours neither), and reports
the median of each server's rounds; the per-round ratios are kept in the details.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any, TypeVar

__all__ = ["merge_rounds", "round_order", "round_ratios"]

T = TypeVar("T")
R = TypeVar("R")  # (an Outcome or a JsOutcome)


def round_order(slots: list[T], round_no: int) -> list[T]:
    """The servers' order in round ``round_no`` (from 0): as given, then reversed, and so on."""
    return list(slots) if round_no % 2 == 0 else list(reversed(slots))


def merge_rounds(runs: list[R]) -> R:
    """One outcome for a scenario's rounds on one server: the median value.

    A round that failed fails the whole (its error is kept); ``details["rounds"]``
    lists every round's value in run order.
    """
    if len(runs) == 1:
        return runs[0]
    failed = [o for o in runs if o.error is not None]
    if failed:
        return failed[0]
    values = [o.value for o in runs if o.value is not None]
    if not values:
        return runs[0]
    median = statistics.median(values)
    closest = min(runs, key=lambda o: abs((o.value or 0.0) - median))
    details = {**closest.details, "rounds": values}
    note = f"median of {len(values)}"
    if closest.note:
        note = f"{closest.note} · {note}"
    return dataclasses.replace(closest, value=median, note=note, details=details)


def round_ratios(mine: Any, reference: Any) -> list[float]:
    """The per-round ratios of two merged outcomes (empty when either has no rounds)."""
    a, b = mine.details.get("rounds"), reference.details.get("rounds")
    if not a or not b or len(a) != len(b):
        return []
    return [x / y for x, y in zip(a, b, strict=True) if y]
