"""Cross-account delivery: stream imports, service imports and the routes their replies take.

Mirrors the runtime half of nats-server's ``accounts.go``.  Everything here is wired once at
configure time (by ``natskern.plugins.accounts``) as internal subscriptions with a ``callback``,
owned by one :class:`~natskern.kernel.core.internal.InternalClient` per account (nats-server's
``ACCOUNT`` client); the router calls them like any in-process subscriber and never looks up
anything per message.

* A **stream import** is an internal subscription in the exporting account on the imported
  subject.  Its callback renames the subject (prefix or mapping) and publishes the message
  unchanged, reply included, into the importing account.  Stream imports are one hop: a
  message that arrived through one is not forwarded by another (nats-server delivers imported
  streams straight to the importer's subscribers), which also makes stream loops harmless.
* A **service import** is an internal subscription in the importing account on its local
  subject.  Its callback maps the subject to the exported one, stamps the
  ``Nats-Request-Info`` header and, when the request has a reply subject, swaps it for a fresh
  ``_R_.<account prefix>.<token>`` subject of the exporting account: a :class:`ResponseTable`
  routes what a responder publishes there back to the requester's original reply subject.
  Single responses consume their route; ``stream``/``chunked`` services keep it until the
  export's ``response_threshold`` has passed.  Routes that expire unused are swept by a timer.

A callback returns False when nobody behind it received the message.  The router then does
not count the delivery, so a request that reaches no responder through an import still gets
the 503 no-responders status (nats-server answers a stream-export request without importing
subscribers that way; for service imports nats-server 2.9 lets the request time out, later
releases answer 503, as we do).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from natskern.kernel.core.internal import InternalClient
from natskern.kernel.core.router import publish
from natskern.kernel.core.subscription import Subscription

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.accounts import Account

__all__ = [
    "DEFAULT_RESPONSE_THRESHOLD",
    "MAX_HOPS",
    "REQUEST_INFO_HEADER",
    "Imports",
    "InternalClient",
    "ResponseRoute",
    "ResponseTable",
    "ServiceImport",
    "StreamImport",
    "Transform",
    "stamp_request_info",
]

#: ``transform(subject) -> subject`` (``None`` or ``b""``: the message is not delivered).
Transform = Callable[[bytes], "bytes | None"]

#: How long a response route lives when the export does not say (nats-server: 2 minutes).
DEFAULT_RESPONSE_THRESHOLD = 120.0
#: Imports one message may pass through in a row before it is dropped (a loop guard only:
#: configured cycles are refused at start-up).
MAX_HOPS = 16
#: The header nats-server adds to every request that crosses a service import.
REQUEST_INFO_HEADER = b"Nats-Request-Info"
#: Reply subjects handed to exporting accounts start with this.
RESPONSE_PREFIX = b"_R_."

#: The shortest wait between two sweeps of a response table (seconds).
_MIN_SWEEP_DELAY = 0.01
_B62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_STATUS_LINE = b"NATS/1.0\r\n"


def _base62(value: int, width: int) -> bytes:
    out = bytearray()
    for _ in range(width):
        value, digit = divmod(value, 62)
        out.append(_B62[digit])
    return bytes(out)


class Imports:
    """The cross-account wiring of one broker: internal clients, response tables, loop guard.

    ``clock`` (monotonic seconds) decides when response routes expire; tests may replace it.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.clients: dict[str, InternalClient] = {}
        self.tables: dict[str, ResponseTable] = {}
        self.streams: list[StreamImport] = []
        self.services: list[ServiceImport] = []
        #: True while a message is being delivered through a stream import.
        self.in_stream = False
        #: The service imports the message being delivered is passing through, in order.
        self.chain: list[ServiceImport] = []
        #: Imports the message being delivered has passed through (any kind).
        self.hops = 0
        self.rng = random.Random(secrets.randbits(64))

    def client(self, account: Account) -> InternalClient:
        """The internal client of ``account`` (created on first use)."""
        client = self.clients.get(account.name)
        if client is None:
            client = self.clients[account.name] = InternalClient(account, f"{account.name} imports")
        return client

    def responses(self, account: Account) -> ResponseTable:
        """The response table of ``account`` (created, with its subscription, on first use)."""
        table = self.tables.get(account.name)
        if table is None:
            table = self.tables[account.name] = ResponseTable(self, account)
        return table

    def add_stream(
        self, importer: Account, exporter: Account, subject: bytes, transform: Transform | None
    ) -> StreamImport:
        """Deliver what ``exporter`` publishes on ``subject`` to ``importer`` as well."""
        imp = StreamImport(self, importer, exporter, subject, transform)
        imp.sub = self.client(exporter).subscribe(subject, imp.deliver)
        importer.imports.append(imp)
        self.streams.append(imp)
        return imp

    def add_service(
        self,
        importer: Account,
        exporter: Account,
        local: bytes,
        transform: Transform | None,
        *,
        single: bool = True,
        threshold: float = DEFAULT_RESPONSE_THRESHOLD,
    ) -> ServiceImport:
        """Send what ``importer`` publishes on ``local`` to ``exporter``'s responders."""
        imp = ServiceImport(
            self, importer, exporter, local, transform, single=single, threshold=threshold
        )
        self.responses(importer)  # responses that carry a reply are routed back through it
        imp.responses = self.responses(exporter)
        imp.sub = self.client(importer).subscribe(local, imp.deliver)
        importer.imports.append(imp)
        self.services.append(imp)
        return imp

    def close(self) -> None:
        """Stop the sweep timers (the broker is stopping)."""
        for table in self.tables.values():
            table.stop_timer()


class StreamImport:
    """One stream import: an internal subscription in the exporting account."""

    __slots__ = ("exporter", "importer", "imports", "sub", "subject", "transform")

    def __init__(
        self,
        imports: Imports,
        importer: Account,
        exporter: Account,
        subject: bytes,
        transform: Transform | None,
    ) -> None:
        self.imports = imports
        self.importer = importer
        self.exporter = exporter
        self.subject = subject
        self.transform = transform
        self.sub: Subscription | None = None

    def deliver(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
        """Router callback: republish into the importing account; False if nobody got it."""
        imports = self.imports
        if imports.in_stream or imports.hops >= MAX_HOPS:
            return False
        transform = self.transform
        if transform is not None:
            subject = transform(subject)  # type: ignore[assignment]
            if not subject:
                return False
        imports.in_stream = True
        imports.hops += 1
        try:
            delivered = publish(None, self.importer, subject, reply, hdr, payload)
        finally:
            imports.hops -= 1
            imports.in_stream = False
        return delivered > 0

    def __repr__(self) -> str:
        return f"<StreamImport {self.exporter.name}:{self.subject!r} -> {self.importer.name}>"


class ServiceImport:
    """One service import: an internal subscription in the importing account."""

    __slots__ = (
        "exporter",
        "importer",
        "imports",
        "info_block",
        "info_line",
        "local",
        "responses",
        "single",
        "sub",
        "threshold",
        "transform",
    )

    def __init__(
        self,
        imports: Imports,
        importer: Account,
        exporter: Account,
        local: bytes,
        transform: Transform | None,
        *,
        single: bool,
        threshold: float,
    ) -> None:
        self.imports = imports
        self.importer = importer
        self.exporter = exporter
        self.local = local
        self.transform = transform
        self.single = single
        self.threshold = threshold
        self.responses: ResponseTable | None = None
        self.sub: Subscription | None = None
        info = json.dumps({"acc": importer.name}, separators=(",", ":")).encode()
        self.info_line = REQUEST_INFO_HEADER + b": " + info + b"\r\n"
        self.info_block = _STATUS_LINE + self.info_line + b"\r\n"

    def deliver(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
        """Router callback: forward a request to the exporting account; False if nobody got it."""
        imports = self.imports
        chain = imports.chain
        if self in chain or imports.hops >= MAX_HOPS:
            return False
        transform = self.transform
        if transform is not None:
            subject = transform(subject)  # type: ignore[assignment]
            if not subject:
                return False
        if hdr is None and not chain:
            hdr = self.info_block
        else:
            hdr = stamp_request_info(hdr, self.info_line, self.importer.name if chain else None)
        table = self.responses
        assert table is not None
        token = table.add(self.importer, reply, self.single, self.threshold) if reply else b""
        in_stream = imports.in_stream
        imports.in_stream = False
        imports.hops += 1
        chain.append(self)
        try:
            delivered = publish(None, self.exporter, subject, token, hdr, payload)
        finally:
            chain.pop()
            imports.hops -= 1
            imports.in_stream = in_stream
        if not delivered:
            if token:
                table.discard(token)
            return False
        return True

    def __repr__(self) -> str:
        return f"<ServiceImport {self.importer.name}:{self.local!r} -> {self.exporter.name}>"


def stamp_request_info(hdr: bytes | None, line: bytes, service: str | None = None) -> bytes:
    """Return ``hdr`` with the ``Nats-Request-Info`` header set (nats-server's ``setHeader``).

    ``line`` is the complete header line for a first hop.  On a chained hop (``service`` is
    the account the request passes through) the first hop's value is kept and ``svc`` is set
    to ``service``, as nats-server does.
    """
    if hdr is None:
        return _STATUS_LINE + line + b"\r\n"
    lines = hdr.split(b"\r\n")
    kept = []
    previous = None
    key = REQUEST_INFO_HEADER + b":"
    for raw in lines[1:]:
        if raw[: len(key)] == key:
            previous = raw[len(key) :].strip()
        elif raw:
            kept.append(raw)
    if service is not None and previous is not None:
        try:
            info: Any = json.loads(previous)
        except ValueError:
            info = None
        if isinstance(info, dict):
            info["svc"] = service
            value = json.dumps(info, separators=(",", ":")).encode()
            line = REQUEST_INFO_HEADER + b": " + value + b"\r\n"
    out = [lines[0]]
    out.extend(kept)
    return b"\r\n".join(out) + b"\r\n" + line + b"\r\n"


class ResponseRoute:
    """Where a response published on one ``_R_`` reply subject goes."""

    __slots__ = ("account", "deadline", "reply", "single", "threshold")

    def __init__(
        self, account: Account, reply: bytes, single: bool, threshold: float, deadline: float
    ) -> None:
        self.account = account
        self.reply = reply
        self.single = single
        self.threshold = threshold
        self.deadline = deadline

    def __repr__(self) -> str:
        kind = "single" if self.single else "stream"
        return f"<ResponseRoute -> {self.account.name}:{self.reply!r} {kind}>"


class ResponseTable:
    """The ``_R_`` reply subjects one account's responders answer on, and where they lead.

    One internal subscription on ``_R_.<prefix>.>`` in the account serves every route.
    """

    def __init__(self, imports: Imports, account: Account) -> None:
        self.imports = imports
        self.account = account
        self.prefix = RESPONSE_PREFIX + _base62(imports.rng.getrandbits(36), 6) + b"."
        self.routes: dict[bytes, ResponseRoute] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self.sub = imports.client(account).subscribe(self.prefix + b">", self.deliver)

    def __len__(self) -> int:
        return len(self.routes)

    def add(self, requester: Account, reply: bytes, single: bool, threshold: float) -> bytes:
        """A new reply subject in this account leading to ``reply`` in ``requester``."""
        rng = self.imports.rng
        routes = self.routes
        token = b"%s%012x" % (self.prefix, rng.getrandbits(48))
        while token in routes:
            token = b"%s%012x" % (self.prefix, rng.getrandbits(48))
        deadline = self.imports.clock() + threshold
        routes[token] = ResponseRoute(requester, reply, single, threshold, deadline)
        if self._timer is None or deadline < self._timer_at:
            self._schedule(deadline)
        return token

    def discard(self, token: bytes) -> None:
        """Forget a route (its request reached nobody)."""
        self.routes.pop(token, None)

    def deliver(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
        """Router callback: send a response back to the requester; False if it went nowhere."""
        routes = self.routes
        route = routes.get(subject)
        if route is None:
            return False
        imports = self.imports
        if route.deadline <= imports.clock():
            del routes[subject]
            return False
        if route.single:
            del routes[subject]
        if imports.hops >= MAX_HOPS:
            return False
        back = b""
        if reply:
            # The responder wants an answer to its response: route that back to it too.
            back = imports.responses(route.account).add(self.account, reply, True, route.threshold)
        imports.hops += 1
        try:
            delivered = publish(None, route.account, route.reply, back, hdr, payload)
        finally:
            imports.hops -= 1
        if not delivered and back:
            imports.responses(route.account).discard(back)
        return delivered > 0

    def sweep(self) -> int:
        """Drop the routes whose threshold has passed; return how many were dropped."""
        now = self.imports.clock()
        expired = [token for token, route in self.routes.items() if route.deadline <= now]
        for token in expired:
            del self.routes[token]
        return len(expired)

    # -- the sweep timer ----------------------------------------------------------------------

    def _schedule(self, deadline: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not in the broker's loop: routes still expire when looked up
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(deadline - self.imports.clock(), _MIN_SWEEP_DELAY)
        self._timer_at = deadline
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.sweep()
        if self.routes:
            self._schedule(min(route.deadline for route in self.routes.values()))

    def stop_timer(self) -> None:
        """Cancel the sweep timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __repr__(self) -> str:
        return f"<ResponseTable {self.account.name} {self.prefix!r} routes={len(self.routes)}>"
