"""``natskern bench SUBJECT`` — core NATS throughput and latency, like ``nats bench``.

Modes (the classic ``nats bench`` flags):

* ``--pub N --sub M``: M subscribers (each on its own connection) receive
  every message that N publishers send (``--msgs`` split between them);
* ``--request``: publishers send requests and wait for each reply, measuring
  per-request latency; ``--reply``: subscribers answer in a queue group.
  Both together benchmark a whole service round trip in one process; only
  ``--reply`` runs responders until interrupted.

It prints a summary of msgs/s, MiB/s and, for requests, latency percentiles.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import click
from nats.aio.client import Client
from nats.aio.msg import Msg

from natskern.cli.connect import ConnSettings, connect, round_trip
from natskern.cli.options import connection_options, get_options
from natskern.cli.output import err_console, log, stderr_is_tty
from natskern.cli.params import SIZE
from natskern.cli.runtime import CliError, run
from natskern.cli.units import format_count, format_size

__all__ = ["ClientStats", "bench_command", "percentile", "summarize"]

QUEUE = "natskern-bench"


@dataclass
class ClientStats:
    """What one benchmark client did: messages, bytes, time span, latencies."""

    msgs: int = 0
    size: int = 0
    start: float = 0.0
    end: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds between the first and last message (never zero)."""
        return max(self.end - self.start, 1e-9)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.msgs / self.duration

    @property
    def throughput(self) -> float:
        """Bytes per second."""
        return self.msgs * self.size / self.duration

    def record(self) -> None:
        """Count one message received now (the first one also marks the start)."""
        now = time.perf_counter()
        if not self.msgs:
            self.start = now
        self.msgs += 1
        self.end = now


def percentile(sorted_values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}us"


def summarize(label: str, clients: list[ClientStats]) -> str:
    """The ``nats bench`` style summary of one group of clients."""
    active = [c for c in clients if c.msgs]
    if not active:
        return f"NATS {label} stats: no messages\n"
    start = min(c.start for c in active)
    end = max(c.end for c in active)
    total = ClientStats(sum(c.msgs for c in active), active[0].size, start, end)
    line = f"{format_count(total.rate)} msgs/sec ~ {format_size(total.throughput)}/sec"
    lines: list[str] = []
    if len(clients) == 1:
        lines.append(f"NATS {label} stats: {line}")
    else:
        for index, client in enumerate(clients, 1):
            lines.append(
                f" [{index}] {format_count(client.rate)} msgs/sec ~ "
                f"{format_size(client.throughput)}/sec ({format_count(client.msgs)} msgs)"
            )
        lines.append(f" NATS {label} aggregated stats: {line}")
        rates = [c.rate for c in active]
        stddev = statistics.pstdev(rates) if len(rates) > 1 else 0.0
        lines.append(
            f" message rates min {format_count(min(rates))} | avg "
            f"{format_count(statistics.mean(rates))} | max {format_count(max(rates))}"
            f" | stddev {format_count(stddev)} msgs"
        )
    latencies = sorted(x for c in active for x in c.latencies)
    if latencies:
        lines.append(
            f" latencies per operation min {_us(latencies[0])} | avg "
            f"{_us(statistics.mean(latencies))} | max {_us(latencies[-1])} | "
            f"P50: {_us(percentile(latencies, 50))} | P90: {_us(percentile(latencies, 90))} | "
            f"P99: {_us(percentile(latencies, 99))} | P99.9: {_us(percentile(latencies, 99.9))}"
        )
    return "\n".join(lines) + "\n"


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class _Progress:
    """A rich progress bar on a terminal, nothing otherwise."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self.bar = None
        if enabled and stderr_is_tty() and total > 0:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                label, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err_console
            )
            self.task = self.bar.add_task(label, total=total)
            self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@click.command("bench")
@click.argument("subject")
@click.option("--pub", "pubs", type=int, default=0, help="Number of concurrent publishers.")
@click.option("--sub", "subs", type=int, default=0, help="Number of concurrent subscribers.")
@click.option("--msgs", type=int, default=100_000, show_default=True, help="Messages to send.")
@click.option(
    "--size", type=SIZE, default="128", show_default=True, help="Message size (e.g. 1KB)."
)
@click.option(
    "--request", "request_mode", is_flag=True, help="Publishers send requests and wait for replies."
)
@click.option("--reply", "reply_mode", is_flag=True, help="Subscribers reply to requests.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars on a terminal.")
@connection_options()
@click.pass_context
def bench_command(
    ctx: click.Context,
    subject: str,
    pubs: int,
    subs: int,
    msgs: int,
    size: int,
    request_mode: bool,
    reply_mode: bool,
    progress: bool,
) -> None:
    """Benchmark publishing, subscribing or request-reply on SUBJECT.

    \b
      natskern bench test --pub 1 --sub 1 --msgs 100000 --size 128
      natskern bench svc --request --reply --pub 2 --sub 2 --msgs 10000
    """
    if pubs < 0 or subs < 0 or msgs < 1 or size < 0:
        raise CliError("--pub/--sub must be >= 0, --msgs >= 1 and --size >= 0")
    if pubs == 0 and subs == 0:
        pubs = 1
    if request_mode and pubs == 0:
        raise CliError("--request needs at least one publisher (--pub)")
    settings = get_options(ctx).resolve()

    async def main(stop: asyncio.Event) -> None:
        report = await _bench(
            settings, stop, subject, pubs, subs, msgs, size, request_mode, reply_mode, progress
        )
        click.echo(report, nl=False)

    run(main)


async def _bench(
    settings: ConnSettings,
    stop: asyncio.Event,
    subject: str,
    pubs: int,
    subs: int,
    msgs: int,
    size: int,
    request_mode: bool,
    reply_mode: bool,
    progress: bool,
) -> str:
    label = "Core NATS service requester" if request_mode else "Core NATS publisher"
    log(
        f"Starting {label} benchmark [clients={pubs}, msg-size={format_size(size)}, "
        f"msgs={format_count(msgs)}, subject={subject}, subscribers={subs}]"
    )
    payload = b"\x00" * size
    sub_conns = [await connect(settings) for _ in range(subs)]
    pub_conns = [await connect(settings) for _ in range(pubs)]
    try:
        if reply_mode:
            served = [ClientStats(size=size) for _ in sub_conns]
            for nc, stats in zip(sub_conns, served, strict=True):
                await nc.subscribe(subject, queue=QUEUE, cb=_responder(nc, stats))
            for nc in sub_conns:
                await round_trip(nc, settings.timeout)
            if not request_mode or not pubs:
                log(f"Answering requests on {subject} in group {QUEUE} until interrupted")
                await stop.wait()
                return summarize("Core NATS service responder", served)
            stats = await _requesters(pub_conns, subject, payload, msgs, progress, stop)
            return summarize(label, stats) + summarize("Core NATS service responder", served)
        if request_mode:
            stats = await _requesters(pub_conns, subject, payload, msgs, progress, stop)
            return summarize(label, stats)
        expected = msgs if pub_conns else 0
        sub_stats = [ClientStats(size=size) for _ in sub_conns]
        done = [asyncio.Event() for _ in sub_conns]
        for nc, stats, event in zip(sub_conns, sub_stats, done, strict=True):
            await nc.subscribe(
                subject,
                cb=_counter(stats, event, expected or msgs),
                pending_msgs_limit=msgs + 1,
                pending_bytes_limit=-1,
            )
            await round_trip(nc, settings.timeout)
        report = ""
        if pub_conns:
            pub_stats = await _publishers(pub_conns, subject, payload, msgs, progress, stop)
            report += summarize(label, pub_stats)
        if sub_conns:
            await _wait_subscribers(
                sub_stats, done, msgs, stop, settings.timeout, external=not pub_conns
            )
            report += summarize("Core NATS subscriber", sub_stats)
        return report
    finally:
        for nc in pub_conns + sub_conns:
            if not nc.is_closed:
                await nc.close()


def _responder(nc: Client, stats: ClientStats):
    async def on_request(msg: Msg) -> None:
        stats.record()
        if msg.reply:
            await nc.publish(msg.reply, msg.data)

    return on_request


def _counter(stats: ClientStats, done: asyncio.Event, expected: int):
    async def on_msg(msg: Msg) -> None:
        stats.record()
        if stats.msgs >= expected:
            done.set()

    return on_msg


async def _run_clients(
    conns: list[Client],
    one: Callable[[Client, int], Awaitable[ClientStats]],
    bar: _Progress,
    msgs: int,
) -> list[ClientStats]:
    """Run ``one(nc, count)`` on every connection at once, ``msgs`` split between them."""
    counts = _split(msgs, len(conns))
    try:
        return list(
            await asyncio.gather(*(one(nc, n) for nc, n in zip(conns, counts, strict=True)))
        )
    finally:
        bar.stop()


async def _publishers(
    conns: list[Client],
    subject: str,
    payload: bytes,
    msgs: int,
    progress: bool,
    stop: asyncio.Event,
) -> list[ClientStats]:
    bar = _Progress(progress, "Publishing", msgs)

    async def one(nc: Client, count: int) -> ClientStats:
        stats = ClientStats(size=len(payload), start=time.perf_counter())
        for i in range(count):
            await nc.publish(subject, payload)
            if i % 1000 == 999:
                bar.advance(1000)
                await asyncio.sleep(0)
                if stop.is_set():
                    break
            stats.msgs += 1
        await round_trip(nc, 60)
        stats.end = time.perf_counter()
        bar.advance(count % 1000)
        return stats

    return await _run_clients(conns, one, bar, msgs)


async def _requesters(
    conns: list[Client],
    subject: str,
    payload: bytes,
    msgs: int,
    progress: bool,
    stop: asyncio.Event,
) -> list[ClientStats]:
    bar = _Progress(progress, "Requesting", msgs)

    async def one(nc: Client, count: int) -> ClientStats:
        stats = ClientStats(size=len(payload), start=time.perf_counter())
        for _ in range(count):
            if stop.is_set():
                break
            sent = time.perf_counter()
            try:
                await nc.request(subject, payload, timeout=5)
            except Exception as exc:
                raise CliError(f"request failed: {exc or type(exc).__name__}") from None
            stats.latencies.append(time.perf_counter() - sent)
            stats.msgs += 1
            bar.advance(1)
        stats.end = time.perf_counter()
        return stats

    return await _run_clients(conns, one, bar, msgs)


async def _wait_subscribers(
    stats: list[ClientStats],
    done: list[asyncio.Event],
    msgs: int,
    stop: asyncio.Event,
    stall: float,
    external: bool,
) -> None:
    """Wait for every subscriber, giving up after ``stall`` seconds without progress.

    With ``external`` publishers the wait for the first message is unbounded.
    """
    last_total, last_change = -1, time.monotonic()
    while not all(event.is_set() for event in done) and not stop.is_set():
        total = sum(s.msgs for s in stats)
        if total != last_total:
            last_total, last_change = total, time.monotonic()
        elif (total or not external) and time.monotonic() - last_change > stall:
            for index, s in enumerate(stats, 1):
                if s.msgs < msgs:
                    log(
                        f"Subscriber [{index}] received {format_count(s.msgs)} of "
                        f"{format_count(msgs)} messages"
                    )
            return
        await asyncio.sleep(0.05)
