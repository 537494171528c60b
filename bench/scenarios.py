"""The benchmark scenarios: each starts a fresh server, drives it, and measures one number.

``run_scenario(name, label, kind, options)`` is the entry point; it never raises for a
failing server or worker, it returns an ``Outcome`` carrying the error instead.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import ProtocolError, msg_frame_size, publisher, subscriber
from loadgen_rr import memory_holder, requester, responder
from procs import WorkerError, Workers
from servers import Server, ServerStartError

#: Seconds a worker may take beyond the run time to deliver its result.
RESULT_GRACE = 120.0
MAP_SOURCE = "bench.in.*"
MAP_DEST = "bench.out.{{wildcard(1)}}"


@dataclass
class Options:
    """What every scenario run needs to know."""

    seconds: float = 3.0
    count: int | None = None
    memory_conns: int = 10_000
    memory_subs: int = 100_000
    workdir: Path = field(default_factory=Path)


@dataclass
class Outcome:
    """The result of one scenario on one server."""

    scenario: str
    server: str
    value: float | None = None
    unit: str = "msgs/s"
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: bool = False


Measure = Callable[[str, Options], tuple[float, str, dict[str, Any]]]


def _pubsub(
    server: Server,
    opts: Options,
    pub_subject: bytes | list[bytes],
    subs: list[tuple[bytes, bytes | None]],
    delivered: bytes,
    size: int,
    copies: int,
) -> dict[str, Any]:
    """Run one publisher against ``subs``; each message should arrive ``copies`` times."""
    frame = msg_frame_size(delivered, b"1", size)
    with Workers() as workers:
        sub = None
        if subs:
            sub = workers.start(subscriber, server.host, server.port, subs, frame)
            sub.ready()
        pub = workers.start(
            publisher, server.host, server.port, pub_subject, size, opts.seconds, opts.count
        )
        pub.ready()
        pub.send("go")
        pres = pub.result(opts.seconds + RESULT_GRACE)
        sres: dict[str, Any] = {"received": [], "t_last": []}
        if sub is not None:
            sub.send("finish")
            sres = sub.result(RESULT_GRACE)
    sent = pres["sent"]
    received = sres["received"]
    total = sum(received)
    out: dict[str, Any] = {"sent": sent, "received": received}
    if not subs:
        out["rate"] = sent / (pres["t_end"] - pres["t0"])
        return out
    ends = [t for t, n in zip(sres["t_last"], received, strict=True) if n]
    out["rate"] = total / (max(ends) - pres["t0"]) if ends else 0.0
    out["expected"] = sent * copies
    out["lost"] = out["expected"] - total
    return out


def _rate_note(res: dict[str, Any]) -> str:
    lost = res.get("lost", 0)
    return f"LOST {lost:,} of {res['expected']:,}" if lost else ""


def _simple(subject: bytes, size: int, n_subs: int, queue: bytes | None = None) -> Measure:
    """A measure for one publisher and ``n_subs`` subscribers on one subject."""

    def measure(kind: str, opts: Options) -> tuple[float, str, dict[str, Any]]:
        with Server(kind, opts.workdir) as server:
            subs = [(subject, queue)] * n_subs
            copies = 1 if queue else n_subs
            res = _pubsub(server, opts, subject, subs, subject, size, copies)
        note = _rate_note(res)
        if queue and sum(res["received"]):
            split = "/".join(f"{100 * n / sum(res['received']):.0f}" for n in res["received"])
            note = " ".join(filter(None, [f"split {split}%", note]))
        return res["rate"], note, res

    return measure


def _rotating(count: int, size: int) -> Measure:
    """A measure for one publisher cycling through ``count`` subjects, one wildcard subscriber.

    No two consecutive messages share a subject, so a server cannot route them as a run:
    this is the per-message cost of the publish path.
    """
    subjects = [b"bench.rot.%d" % i for i in range(count)]
    assert len({len(s) for s in subjects}) == 1, "the subscriber counts equal-size frames"

    def measure(kind: str, opts: Options) -> tuple[float, str, dict[str, Any]]:
        with Server(kind, opts.workdir) as server:
            subs = [(b"bench.rot.*", None)]
            res = _pubsub(server, opts, subjects, subs, subjects[0], size, 1)
        return res["rate"], _rate_note(res), res

    return measure


def _request_reply(inflight: int) -> Measure:
    """A measure for request-reply with ``inflight`` requests outstanding."""

    def measure(kind: str, opts: Options) -> tuple[float, str, dict[str, Any]]:
        with Server(kind, opts.workdir) as server, Workers() as workers:
            resp = workers.start(responder, server.host, server.port)
            resp.ready()
            req = workers.start(
                requester, server.host, server.port, inflight, opts.seconds, opts.count
            )
            req.ready()
            req.send("go")
            res = req.result(opts.seconds + RESULT_GRACE)
            server.stop()  # the responder ends when its connection closes
            handled = resp.result(RESULT_GRACE)["handled"]
        lat = res.pop("latencies_ns")
        if not lat:
            raise ProtocolError("no replies received")
        qs = statistics.quantiles(lat, n=100, method="inclusive")
        p50, p99 = qs[49] / 1000, qs[98] / 1000
        rate = res["completed"] / ((res["t_end"] - res["t0"]) / 1e9)
        details = {"completed": res["completed"], "handled": handled, "p50_us": p50, "p99_us": p99}
        return rate, f"p50 {p50:,.0f}µs p99 {p99:,.0f}µs", details

    return measure


def _mapped(kind: str, opts: Options) -> tuple[float, str, dict[str, Any]]:
    """pub→sub through a server-side subject mapping, against an unmapped baseline."""
    with Server(kind, opts.workdir, {MAP_SOURCE: MAP_DEST}) as server:
        target = [(b"bench.out.m", None)]
        base = _pubsub(server, opts, b"bench.out.m", target, b"bench.out.m", 16, 1)
        mapped = _pubsub(server, opts, b"bench.in.m", target, b"bench.out.m", 16, 1)
    if not sum(mapped["received"]):
        raise ProtocolError("no messages arrived on the mapped subject (mapping not applied?)")
    cost = 1.0 - mapped["rate"] / base["rate"] if base["rate"] else float("nan")
    details = {"baseline_rate": base["rate"], "cost": cost, **mapped}
    note = " ".join(filter(None, [f"cost {100 * cost:.0f}%", _rate_note(mapped)]))
    return mapped["rate"], note, details


def _memory(kind: str, opts: Options) -> tuple[float, str, dict[str, Any]]:
    """RSS of a server holding many idle connections with many subscriptions."""
    per_conn = max(1, opts.memory_subs // opts.memory_conns)
    with Server(kind, opts.workdir) as server, Workers() as workers:
        idle = server.rss_mib()
        holder = workers.start(
            memory_holder, server.host, server.port, opts.memory_conns, per_conn, 64
        )
        info = holder.ready(timeout=600.0)
        rss = server.rss_mib()
        holder.send("close")
        holder.result(RESULT_GRACE)
        if not server.alive():
            raise ProtocolError(f"server died: {server.log_tail()}")
    details = {"idle_mib": idle, **info}
    note = f"{info['conns']:,} conns {info['subs']:,} subs (idle {idle:.0f} MiB)"
    return rss, note, details


SCENARIOS: dict[str, tuple[str, Measure]] = {
    "pub": ("pub-only 16 B, no subscribers", _simple(b"bench.pub", 16, 0)),
    "pubsub-16": ("1 publisher → 1 subscriber, 16 B", _simple(b"bench.ps", 16, 1)),
    "pubsub-1k": ("1 publisher → 1 subscriber, 1 KiB", _simple(b"bench.ps", 1024, 1)),
    "pubsub-rot": ("1 publisher → 1 subscriber, 16 B, 8 subjects in turn", _rotating(8, 16)),
    "fanout-4": ("1 publisher → 4 subscribers, 16 B", _simple(b"bench.fan", 16, 4)),
    "queue-2": ("1 publisher → queue group of 2", _simple(b"bench.q", 16, 2, b"workers")),
    "req-seq": ("request-reply, one at a time", _request_reply(1)),
    "req-64": ("request-reply, 64 in flight", _request_reply(64)),
    "mapped": ("pub→sub through a subject mapping", _mapped),
    "memory": ("idle connections + subscriptions: RSS", _memory),
}


def starts(kind: str, workdir: Path) -> str | None:
    """Start and stop a plain server of ``kind``; return None if it works, else the error."""
    try:
        Server(kind, workdir).stop()
    except ServerStartError as exc:
        return str(exc)
    return None


def run_scenario(name: str, label: str, kind: str, opts: Options) -> Outcome:
    """Run scenario ``name`` on a fresh server of ``kind``, reported under ``label``."""
    outcome = Outcome(scenario=name, server=label, unit="MiB" if name == "memory" else "msgs/s")
    try:
        outcome.value, outcome.note, outcome.details = SCENARIOS[name][1](kind, opts)
    except ServerStartError as exc:
        outcome.error = str(exc)
        if name == "mapped" and label == "natskern" and starts(kind, opts.workdir) is None:
            outcome.skipped = True
            outcome.error = f"natskern rejected the mapping config: {exc}"
    except (WorkerError, ProtocolError, OSError) as exc:
        notes = getattr(exc, "__notes__", [])
        outcome.error = " — ".join([f"{type(exc).__name__}: {exc}", *notes])
    return outcome
