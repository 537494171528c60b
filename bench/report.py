"""Targets, the result table and the JSON report of a benchmark run."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from scenarios import Outcome

NATSKERN = "natskern"
REFERENCE = "nats-server"
#: The reference slot of ``--reference natskern-nojs``: the same build, JetStream off.
NOJS = "natskern-nojs"


@dataclass(frozen=True)
class Target:
    """A project target for one scenario.

    ``kind`` is ``"ratio"`` (natskern/reference >= limit), ``"cost"`` (natskern's mapping
    cost < limit) or ``"mib"`` (natskern RSS < limit).
    """

    kind: str
    limit: float

    def describe(self) -> str:
        """Return the target as shown in the table."""
        if self.kind == "ratio":
            return f"ratio ≥ {self.limit:g}"
        if self.kind == "cost":
            return f"cost < {100 * self.limit:.0f}%"
        return f"< {self.limit:g} MiB"


TARGETS: dict[str, Target] = {
    "pub": Target("ratio", 0.17),
    "pubsub-16": Target("ratio", 0.25),
    "pubsub-1k": Target("ratio", 0.45),
    "pubsub-rot": Target("ratio", 0.25),  # ours: the per-message path alone, as pubsub-16
    "fanout-4": Target("ratio", 0.2),
    "queue-2": Target("ratio", 0.25),
    "req-seq": Target("ratio", 0.4),
    "req-64": Target("ratio", 0.3),
    "mapped": Target("cost", 0.25),
    "memory": Target("mib", 300.0),
}
#: natskern with JetStream and streams against itself without: every ratio within 5%; the
#: mapping cost and the RSS keep their own targets.
NOJS_TARGETS: dict[str, Target] = {
    name: Target("ratio", 0.95) if target.kind == "ratio" else target
    for name, target in TARGETS.items()
}


@dataclass(frozen=True)
class Comparison:
    """What the natskern slot is measured against, and how the table and JSON name both."""

    #: The reference slot's label: its outcomes' ``server`` and its key in the JSON summary.
    reference: str
    natskern_header: str
    reference_header: str
    #: The start of the table's title.
    title: str
    targets: dict[str, Target]


COMPARISONS: dict[str, Comparison] = {
    REFERENCE: Comparison(REFERENCE, NATSKERN, REFERENCE, "natskern vs nats-server", TARGETS),
    NOJS: Comparison(
        NOJS,
        "natskern (JS + streams)",
        "natskern (no JS)",
        "natskern with JetStream + streams vs the same build with JetStream off",
        NOJS_TARGETS,
    ),
}


@dataclass
class Row:
    """One scenario's line of the summary: both outcomes, the ratio and the verdict."""

    scenario: str
    natskern: Outcome | None
    reference: Outcome | None
    ratio: float | None
    target: Target
    passed: bool | None
    #: The reference's key in ``to_json``.
    reference_label: str = REFERENCE

    def to_json(self) -> dict[str, Any]:
        """Return the row as plain JSON data."""
        return {
            "scenario": self.scenario,
            "natskern": _value(self.natskern),
            self.reference_label: _value(self.reference),
            "ratio": self.ratio,
            "target": self.target.describe(),
            "pass": self.passed,
        }


def _value(outcome: Outcome | None) -> float | None:
    if outcome is None or outcome.error is not None:
        return None
    return outcome.value


def make_row(
    scenario: str,
    natskern: Outcome | None,
    reference: Outcome | None,
    comparison: Comparison = COMPARISONS[REFERENCE],
) -> Row:
    """Compare the two outcomes of ``scenario`` against its target in ``comparison``."""
    target = comparison.targets[scenario]
    mine, ref = _value(natskern), _value(reference)
    ratio = mine / ref if mine is not None and ref else None
    passed: bool | None = None
    if target.kind == "ratio" and ratio is not None:
        passed = ratio >= target.limit
    elif target.kind == "cost" and mine is not None and natskern is not None:
        cost = natskern.details.get("cost", math.nan)
        passed = None if math.isnan(cost) else cost < target.limit
    elif target.kind == "mib" and mine is not None:
        passed = mine < target.limit
    return Row(scenario, natskern, reference, ratio, target, passed, comparison.reference)


def _cell(outcome: Outcome | None) -> Text:
    if outcome is None:
        return Text("—", style="dim")
    if outcome.skipped:
        return Text("skipped", style="yellow")
    if outcome.error is not None:
        return Text("error", style="bold red")
    if outcome.unit == "MiB":
        text = Text(f"{outcome.value:,.1f} MiB")
    else:
        text = Text(f"{outcome.value:,.0f}/s")
    if outcome.note:
        text.append("\n" + outcome.note, style="red" if "LOST" in outcome.note else "dim")
    return text


def _verdict(passed: bool | None) -> Text:
    if passed is None:
        return Text("n/a", style="dim")
    return Text("PASS", style="bold green") if passed else Text("FAIL", style="bold red")


def build_table(
    rows: list[Row], title: str, comparison: Comparison = COMPARISONS[REFERENCE]
) -> Table:
    """Return the rich table of the run: one line per scenario, columns named by ``comparison``."""
    table = Table(title=title, show_lines=True)
    table.add_column("scenario", no_wrap=True, style="bold")
    table.add_column(comparison.natskern_header, justify="right")
    table.add_column(comparison.reference_header, justify="right")
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for row in rows:
        ratio = Text("—", style="dim") if row.ratio is None else Text(f"{row.ratio:.3f}")
        table.add_row(
            row.scenario,
            _cell(row.natskern),
            _cell(row.reference),
            ratio,
            row.target.describe(),
            _verdict(row.passed),
        )
    return table


def problems(outcomes: list[Outcome]) -> list[str]:
    """Return one line per failed or skipped run, for printing below the table."""
    return [
        f"{o.scenario} on {o.server}: {'skipped — ' if o.skipped else ''}{o.error}"
        for o in outcomes
        if o.error is not None
    ]


def write_json(
    path: Path,
    meta: dict[str, Any],
    outcomes: list[Outcome],
    rows: list[Row],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the full run (settings, every outcome, the summary, ``extra``) as JSON."""
    data = {
        "meta": meta,
        "outcomes": [asdict(o) for o in outcomes],
        "summary": [row.to_json() for row in rows],
        **(extra or {}),
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
