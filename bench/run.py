"""Benchmark natskern against nats-server: same load generator, same machine, same run.

Usage: ``python bench/run.py [--scenarios pub,pubsub-16,...] [--seconds N] [--count N]
[--json FILE] [--only natskern]``. Each scenario runs on a fresh server of each kind, one
after the other (never both at once); the table shows msgs/s (MiB for ``memory``), the
ratio natskern/nats-server and the project's target. Nothing is written unless ``--json``.

JetStream scenarios (``js-*``, ``kv-*``; ``--scenarios js`` selects them all) run against
nats-server 2.15 with JetStream (default fsync, and ``sync_interval: always`` for file
storage) and get their own table with both ratios; ``--quick`` shrinks the pull stream.
They are not in the default selection.

``--reference natskern-nojs`` measures what JetStream costs Core NATS instead: the natskern
slot runs natskern with JetStream on and three streams defined (``servers.BENCH_STREAMS``,
on subjects no scenario publishes on), the reference slot the same build with
``--no-jetstream``; every ratio's target is then 0.95. Core scenarios only.

``--rounds N`` runs each scenario (core and JetStream) N times per server,
alternating which server goes first, and reports each server's median (see
``rounds.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from js_report import build_js_table, make_js_row
from js_scenarios import (
    JS_SCENARIOS,
    JsOptions,
    JsOutcome,
    nats_server_js_path,
    run_js_scenario,
    slots_for,
)
from loadgen import raise_nofile_limit
from report import (
    COMPARISONS,
    NATSKERN,
    NOJS,
    REFERENCE,
    build_table,
    make_row,
    problems,
    write_json,
)
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rounds import merge_rounds, round_order, round_ratios
from scenarios import SCENARIOS, Options, Outcome, run_scenario, starts
from servers import BENCH_STREAMS, nats_server_path


def _parse_scenarios(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if "js" in names:
        names = [n for n in names if n != "js"] + list(JS_SCENARIOS)
    known = {**SCENARIOS, **JS_SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown scenario(s) {', '.join(unknown) or '(none)'}; choose from "
            + ", ".join(known)
            + " (or js for every JetStream scenario)"
        )
    return [n for n in known if n in names]


def _nats_server_version() -> str | None:
    path = nats_server_path()
    if path is None:
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip()


def _slots(
    only: str | None, natskern_impl: str, reference: str, err: Console
) -> list[tuple[str, str]]:
    """Return the ``(label, kind)`` servers to run, in order."""
    slots = [(NATSKERN, natskern_impl), (REFERENCE, "nats-server")]
    if reference == NOJS:
        slots = [(NATSKERN, "natskern-streams"), (NOJS, "natskern-nojs")]
    if only is not None:
        slots = [s for s in slots if s[0] == only]
    if nats_server_path() is None:
        if any(kind == "nats-server" for _, kind in slots):
            err.print("[yellow]nats-server is not on PATH: running natskern only[/]")
        slots = [s for s in slots if s[1] != "nats-server"]
    return slots


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def _run_js(
    names: list[str], only: str | None, opts: JsOptions, err: Console, rounds: int = 1
) -> list[JsOutcome]:
    """Run the JetStream scenarios ``names`` on each of their server slots, in turn,
    ``rounds`` times each (the slots' order alternating; each slot's median kept)."""
    if nats_server_js_path() is None and only != "natskern":
        err.print("[yellow]nats-server 2.15 not found: JetStream scenarios on natskern only[/]")
    plan = [
        (name, slot)
        for name in names
        for round_no in range(rounds)
        for slot in round_order(slots_for(name, only), round_no)
    ]
    runs: dict[tuple[str, str], list[JsOutcome]] = {}
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    with progress:
        task = progress.add_task("starting", total=len(plan))
        for name, slot in plan:
            progress.update(task, description=f"{name} on {slot}")
            outcome = run_js_scenario(name, slot, opts)
            runs.setdefault((name, slot), []).append(outcome)
            progress.console.print(f"{name:<18} {slot:<18} {_describe(outcome)}")  # type: ignore[arg-type]
            progress.advance(task)
    outcomes = [merge_rounds(rs) for rs in runs.values()]
    if rounds > 1:
        for name in names:
            merged = {o.server: o for o in outcomes if o.scenario == name}
            mine = merged.get(NATSKERN)
            for slot, o in merged.items():
                if mine is not None and o is not mine:
                    shown = ", ".join(f"{r:.3f}" for r in round_ratios(mine, o))
                    err.print(f"{name:<18} [dim]ratio vs {slot} per round: {shown}[/]")
    return outcomes


def _describe(outcome: Outcome) -> str:
    if outcome.error is not None:
        colour = "yellow" if outcome.skipped else "red"
        return f"[{colour}]{'skipped' if outcome.skipped else 'error'}[/]"
    unit = " MiB" if outcome.unit == "MiB" else f" {outcome.unit}"
    note = f"  [dim]{outcome.note}[/]" if outcome.note else ""
    return f"{outcome.value:,.1f}{unit}{note}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--scenarios",
    default=",".join(SCENARIOS),
    show_default=True,
    callback=_parse_scenarios,
    help="Comma-separated scenarios to run.",
)
@click.option("--seconds", default=3.0, show_default=True, help="Time limit per measurement.")
@click.option("--count", type=click.IntRange(min=1), help="Message/request limit per measurement.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--only", type=click.Choice([NATSKERN, REFERENCE, NOJS]), help="Run one server only.")
@click.option("--memory-conns", default=10_000, show_default=True, help="memory: connections.")
@click.option("--memory-subs", default=100_000, show_default=True, help="memory: total subs.")
@click.option(
    "--natskern-impl",
    type=click.Choice(["natskern", "nats-server"]),
    default="natskern",
    show_default=True,
    help="What runs in the natskern slot (nats-server: to test the benchmark itself).",
)
@click.option("--quick", is_flag=True, help="JetStream: a smaller pre-filled pull stream.")
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run each scenario this many times per server, alternating the servers' "
    "order, and report the medians.",
)
@click.option(
    "--reference",
    type=click.Choice(list(COMPARISONS)),
    default=REFERENCE,
    show_default=True,
    help="What the core scenarios compare natskern with (natskern-nojs: natskern with "
    "JetStream and streams vs natskern --no-jetstream).",
)
def main(
    scenarios: list[str],
    seconds: float,
    count: int | None,
    json_path: Path | None,
    only: str | None,
    memory_conns: int,
    memory_subs: int,
    natskern_impl: str,
    quick: bool,
    rounds: int,
    reference: str,
) -> None:
    """Run the benchmark scenarios and print msgs/s, ratios and targets."""
    # (a pipe or a file gets rich's 80 columns, which squeeze the JetStream table's
    # figures out of sight: wide enough for every column there)
    out = Console() if sys.stdout.isatty() else Console(width=160)
    err = Console(stderr=True)
    raise_nofile_limit()
    js_names = [n for n in scenarios if n in JS_SCENARIOS]
    scenarios = [n for n in scenarios if n in SCENARIOS]
    comparison = COMPARISONS[reference]
    if reference == NOJS:
        if js_names:
            raise click.UsageError("--reference natskern-nojs runs core scenarios only")
        if natskern_impl != "natskern":
            raise click.UsageError("--reference natskern-nojs needs --natskern-impl natskern")
    if only is not None and only not in (NATSKERN, reference):
        raise click.UsageError(f"--only {only} is not a server of --reference {reference}")
    load_before = _load()
    slots = _slots(only, natskern_impl, reference, err) if scenarios else []
    if scenarios and not slots:
        raise click.UsageError("no server to run")
    outcomes: list[Outcome] = []
    failed_start: list[str] = []
    with tempfile.TemporaryDirectory(prefix="natskern-bench-") as tmp:
        opts = Options(seconds, count, memory_conns, memory_subs, Path(tmp))
        for label, kind in list(slots):
            error = starts(kind, opts.workdir)
            if error is not None:
                failed_start.append(f"{label} does not start, left out of the run: {error}")
                err.print(failed_start[-1], style="red", markup=False, highlight=False)
                slots.remove((label, kind))
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        )
        js_opts = JsOptions(seconds, count, quick, Path(tmp))
        js_outcomes = _run_js(js_names, only, js_opts, err, rounds)
        with progress if scenarios else contextlib.nullcontext():
            task = progress.add_task("starting", total=len(scenarios) * len(slots) * rounds)
            width = max([12, *(len(label) for label, _ in slots)])
            for name in scenarios:
                runs: dict[str, list[Outcome]] = {label: [] for label, _ in slots}
                for round_no in range(rounds):
                    for label, kind in round_order(slots, round_no):
                        progress.update(task, description=f"{name} on {label}")
                        outcome = run_scenario(name, label, kind, opts)
                        runs[label].append(outcome)
                        progress.console.print(f"{name:<10} {label:<{width}} {_describe(outcome)}")
                        progress.advance(task)
                outcomes.extend(merge_rounds(runs[label]) for label, _ in slots)
                if rounds > 1 and len(slots) == 2:
                    ratios = round_ratios(outcomes[-2], outcomes[-1])
                    shown = ", ".join(f"{r:.3f}" for r in ratios)
                    progress.console.print(f"{name:<10} [dim]ratio per round: {shown}[/]")
    by_key = {(o.scenario, o.server): o for o in outcomes}
    rows = [
        make_row(n, by_key.get((n, NATSKERN)), by_key.get((n, comparison.reference)), comparison)
        for n in scenarios
    ]
    limit = f"{seconds:g} s" + (f" or {count:,} msgs" if count else "")
    title = f"{comparison.title} — {limit} per measurement, {os.cpu_count()} CPUs"
    if scenarios:
        out.print(build_table(rows, title, comparison))
    js_rows = []
    if js_names:
        js_rows = [
            make_js_row(n, {o.server: o for o in js_outcomes if o.scenario == n}) for n in js_names
        ]
        js_title = (
            f"JetStream: natskern vs nats-server 2.15 — {limit} per measurement, "
            f"{os.cpu_count()} CPUs"
        )
        out.print(build_js_table(js_rows, js_title))
    load_after = _load()
    out.print(f"{load_before} before the run, {load_after} after", highlight=False)
    js_problems = [f"{o.scenario} on {o.server}: {o.error}" for o in js_outcomes if o.error]
    for line in failed_start + problems(outcomes) + js_problems:
        out.print(f"• {line}", style="yellow", markup=False, highlight=False)
    if json_path is not None:
        meta = {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "nats_server": _nats_server_version(),
            "natskern_impl": natskern_impl,
            "seconds": seconds,
            "count": count,
            "quick": quick,
            "rounds": rounds,
            "load_before": load_before,
            "load_after": load_after,
        }
        if reference == NOJS:  # the default report keeps its keys
            meta["reference"] = reference
            meta["streams"] = {name: conf["subjects"] for name, conf in BENCH_STREAMS.items()}
        jetstream = {
            "outcomes": [dataclasses.asdict(o) for o in js_outcomes],
            "summary": [row.to_json() for row in js_rows],
        }
        write_json(json_path, meta, outcomes, rows, {"jetstream": jetstream})
        err.print(f"results written to {json_path}")
    if failed_start or any(o.error is not None and not o.skipped for o in outcomes) or js_problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
