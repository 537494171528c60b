"""Targets and the result table of the JetStream scenarios (issues 11, 12, 13).

Each scenario has up to two ratios: natskern against nats-server 2.15 with its default
(lazy) fsync, and against nats-server with ``sync_interval: always``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from js_scenarios import NATSKERN, NS_ALWAYS, NS_DEFAULT, JsOutcome
from rich.table import Table
from rich.text import Text

#: scenario -> (minimum ratio vs nats-server default, minimum ratio vs sync always).
JS_TARGETS: dict[str, tuple[float | None, float | None]] = {
    "js-pub-sync": (None, 0.8),
    "js-pub-async": (0.5, 10.0),
    "js-pub-async-mem": (0.5, None),
    "js-pub-async-lazy": (0.6, None),
    "js-pull": (0.4, None),
    "js-pull-ack": (0.4, None),
    "js-push-fc": (None, None),
    "kv-put-1": (0.3, 0.8),
    "kv-put-64": (0.5, None),
    "kv-get-1": (0.5, None),
    "kv-get-64": (0.5, None),
    "obj-put": (0.5, None),
    "obj-put-lazy": (None, None),
    "obj-get": (0.5, None),
}


@dataclass
class JsRow:
    """One JetStream scenario's line: the three outcomes, both ratios, the verdict."""

    scenario: str
    outcomes: dict[str, JsOutcome]
    vs_default: float | None
    vs_always: float | None
    passed: bool | None

    def to_json(self) -> dict[str, Any]:
        """Return the row as plain JSON data."""
        lo_default, lo_always = JS_TARGETS[self.scenario]
        return {
            "scenario": self.scenario,
            **{slot: _value(self.outcomes.get(slot)) for slot in (NATSKERN, NS_DEFAULT, NS_ALWAYS)},
            "vs_default": self.vs_default,
            "vs_always": self.vs_always,
            "target_vs_default": lo_default,
            "target_vs_always": lo_always,
            "pass": self.passed,
        }


def _value(outcome: JsOutcome | None) -> float | None:
    if outcome is None or outcome.error is not None:
        return None
    return outcome.value


def make_js_row(scenario: str, outcomes: dict[str, JsOutcome]) -> JsRow:
    """Compute the ratios of ``scenario`` and check them against its targets."""
    mine = _value(outcomes.get(NATSKERN))
    ref, always = _value(outcomes.get(NS_DEFAULT)), _value(outcomes.get(NS_ALWAYS))
    vs_default = mine / ref if mine is not None and ref else None
    vs_always = mine / always if mine is not None and always else None
    checks = []
    lo_default, lo_always = JS_TARGETS[scenario]
    if lo_default is not None and vs_default is not None:
        checks.append(vs_default >= lo_default)
    if lo_always is not None and vs_always is not None:
        checks.append(vs_always >= lo_always)
    passed = all(checks) if checks else None
    return JsRow(scenario, outcomes, vs_default, vs_always, passed)


def _cell(outcome: JsOutcome | None) -> Text:
    if outcome is None:
        return Text("—", style="dim")
    if outcome.error is not None:
        return Text("error", style="bold red")
    msgs = outcome.unit == "msgs/s"
    text = Text(f"{outcome.value:,.0f}/s" if msgs else f"{outcome.value:,.1f} {outcome.unit}")
    if outcome.note:
        text.append("\n" + outcome.note, style="dim")
    return text


def _ratio(value: float | None) -> Text:
    return Text("—", style="dim") if value is None else Text(f"{value:.3f}")


def _target(scenario: str) -> str:
    lo_default, lo_always = JS_TARGETS[scenario]
    parts = []
    if lo_default is not None:
        parts.append(f"default ≥ {lo_default:g}")
    if lo_always is not None:
        parts.append(f"always ≥ {lo_always:g}")
    return "\n".join(parts)


def build_js_table(rows: list[JsRow], title: str) -> Table:
    """Return the rich table of the JetStream scenarios."""
    table = Table(title=title, show_lines=True)
    table.add_column("scenario", no_wrap=True, style="bold")
    table.add_column(NATSKERN, justify="right")
    table.add_column("nats-server\ndefault", justify="right")
    table.add_column("nats-server\nsync always", justify="right")
    table.add_column("vs default", justify="right", no_wrap=True)
    table.add_column("vs always", justify="right", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for row in rows:
        verdict = (
            Text("n/a", style="dim")
            if row.passed is None
            else Text("PASS", style="bold green")
            if row.passed
            else Text("FAIL", style="bold red")
        )
        table.add_row(
            row.scenario,
            _cell(row.outcomes.get(NATSKERN)),
            _cell(row.outcomes.get(NS_DEFAULT)),
            _cell(row.outcomes.get(NS_ALWAYS)),
            _ratio(row.vs_default),
            _ratio(row.vs_always),
            _target(row.scenario),
            verdict,
        )
    return table
