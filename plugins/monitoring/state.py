"""What monitoring remembers between requests: closed connections, totals, process stats.

Open sessions are read live from the broker.  A closed session is frozen into a
:class:`ConnView` when it closes and kept in a bounded ring (nats-server's
``max_closed_clients``); its counters are added to running totals so ``/varz``
and ``/accstatz`` keep counting traffic of connections that are gone.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from natskern.kernel.state import RELOAD

#: (subject, queue, sid, delivered, max) of one subscription, as text.
SubInfo = tuple[str, str, str, int, int]

#: Connection type as the broker names it -> nats-server's ``type`` field.
_TYPES = {"STANDARD": "nats", "WEBSOCKET": "websocket", "MQTT": "mqtt", "LEAFNODE": "leafnode"}


def _sub_info(sub: Any) -> SubInfo:
    return (
        sub.subject.decode("utf-8", "replace"),
        sub.queue.decode("utf-8", "replace") if sub.queue else "",
        sub.sid.decode("utf-8", "replace"),
        sub.delivered,
        sub.max_msgs,
    )


class ConnView:
    """One connection as ``/connz`` sees it: a live session, or a closed one frozen."""

    __slots__ = (
        "account",
        "cid",
        "client",
        "in_bytes",
        "in_msgs",
        "ip",
        "kind",
        "lang",
        "last",
        "name",
        "out_bytes",
        "out_msgs",
        "pending",
        "port",
        "reason",
        "rtt",
        "start",
        "stop",
        "subs",
        "type",
        "user",
        "version",
    )

    def __init__(self, client: Any, *, closed: bool = False, reason: str = "") -> None:
        self.cid: int = client.cid
        self.kind: str = getattr(client, "kind", "Client")
        self.type = _TYPES.get(client.conn_type, client.conn_type.lower())
        self.ip: str = client.host
        self.port: int = client.port
        self.start: float = client.start_time
        self.last: float = client.last_activity
        self.rtt: float = client.rtt
        self.pending: int = 0 if closed else client.pending
        self.in_msgs: int = client.in_msgs
        self.out_msgs: int = client.out_msgs
        self.in_bytes: int = client.in_bytes
        self.out_bytes: int = client.out_bytes
        self.name: str = client.name
        self.lang: str = client.lang
        self.version: str = client.version
        self.user: str = client.user
        self.account: str = client.account.name
        self.stop: float | None = time.time() if closed else None
        self.reason = reason
        # A closed session keeps a copy of its subscriptions; a live one is read on demand.
        self.client = None if closed else client
        self.subs: list[SubInfo] | None = (
            [_sub_info(s) for s in client.subs.values()] if closed else None
        )

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self.stop is not None

    def subscriptions(self) -> list[SubInfo]:
        """The connection's subscriptions (at close time for a closed one)."""
        if self.subs is not None:
            return self.subs
        return [_sub_info(s) for s in self.client.subs.values()]

    def num_subs(self) -> int:
        """How many subscriptions the connection has (had)."""
        if self.subs is not None:
            return len(self.subs)
        return len(self.client.subs)


class Totals:
    """Message and byte counters (from clients: ``in``; to clients: ``out``)."""

    __slots__ = ("in_bytes", "in_msgs", "out_bytes", "out_msgs")

    def __init__(self) -> None:
        self.in_msgs = self.in_bytes = self.out_msgs = self.out_bytes = 0

    def add(self, c: Any) -> None:
        """Add the counters of connection (or view) ``c``."""
        self.in_msgs += c.in_msgs
        self.in_bytes += c.in_bytes
        self.out_msgs += c.out_msgs
        self.out_bytes += c.out_bytes


class CpuSampler:
    """Process CPU use in percent of one core, averaged over the last sampling window."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._wall = time.monotonic()
        self._cpu = self._cpu_time()
        self.percent = 0.0

    @staticmethod
    def _cpu_time() -> float:
        t = os.times()
        return t.user + t.system

    def sample(self) -> float:
        """The current estimate; re-measured when the window has passed."""
        now = time.monotonic()
        if now - self._wall >= self.window:
            cpu = self._cpu_time()
            self.percent = round(100.0 * (cpu - self._cpu) / (now - self._wall), 2)
            self._wall, self._cpu = now, cpu
        return self.percent


def rss_bytes() -> int:
    """Resident set size of this process (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class MonitorState:
    """Per-broker monitoring state (kept in ``broker.plugin_state``: see ``state_of``)."""

    def __init__(self, broker: Any, section: dict[str, Any]) -> None:
        self.broker = broker
        self.section = section
        self.closed: deque[ConnView] = deque(maxlen=section["max_closed_clients"])
        #: Traffic of every closed connection, server-wide and per account.
        self.closed_totals = Totals()
        self.account_totals: dict[str, Totals] = {}
        self.http_req_stats: dict[str, int] = {}
        self.cpu = CpuSampler()
        #: path -> handler(request), filled by the plugin's ``configure``.
        self.routes: dict[str, Any] = {}
        #: Where the HTTP server listens, once started.
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """``http://host:port`` of the monitoring server ("" before it started)."""
        if not self.port:
            return ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def count_request(self, path: str) -> None:
        """Count one request to ``path`` (shown in ``/varz`` ``http_req_stats``)."""
        self.http_req_stats[path] = self.http_req_stats.get(path, 0) + 1

    def session_closed(self, client: Any, reason: str) -> None:
        """Freeze a closed session into the ring and add its counters to the totals."""
        if not hasattr(client, "in_msgs"):
            return
        view = ConnView(client, closed=True, reason=reason)
        self.closed.append(view)
        self.closed_totals.add(view)
        self.account_stats(view.account).add(view)

    def account_stats(self, account: str) -> Totals:
        """The closed-connection totals of ``account``."""
        totals = self.account_totals.get(account)
        if totals is None:
            totals = self.account_totals[account] = Totals()
        return totals

    def open_views(self) -> list[ConnView]:
        """A view of every open client session."""
        return [ConnView(c) for c in self.broker.clients.values()]

    def config_load_time(self) -> float:
        """When the configuration was last (re)loaded."""
        record = RELOAD.get(self.broker)
        if record:
            return float(record["time"])
        return float(self.broker.start_time)
