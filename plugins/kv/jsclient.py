"""A minimal JetStream client over the broker's in-process client (no socket).

KV and object store are conventions over streams (DESIGN §2.5): this module only speaks
the JetStream API subjects that nats-py speaks (``$JS.API.*`` requests, publishes that
wait for a PubAck, direct gets, ordered push consumers), through
:class:`natskern.kernel.core.inprocess.InProcessClient`, so an embedding application and
remote clients share the same streams, writes and watches.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from natskern.kernel.core.inprocess import InProcessClient, InProcessSubscription, Msg
from natskern.kernel.errors import NatskernError

__all__ = ["APIError", "Delivery", "JetStreamClient", "OrderedConsumer"]


class APIError(Exception):
    """A JetStream API error: ``code`` (HTTP-like), ``err_code`` (10071, ...), description."""

    def __init__(self, code: int, err_code: int, description: str) -> None:
        super().__init__(f"{description} (code {code}, err_code {err_code})")
        self.code = code
        self.err_code = err_code
        self.description = description


@dataclass
class Delivery:
    """A message delivered by an ordered consumer, with its ack-subject metadata."""

    subject: str
    data: bytes
    headers: dict[str, str]
    stream_seq: int
    timestamp_ns: int
    pending: int


class JetStreamClient:
    """JetStream API calls over an in-process client."""

    def __init__(self, client: InProcessClient, timeout: float = 5.0) -> None:
        self.client = client
        self.timeout = timeout

    async def api(self, subject: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Request ``$JS.API.<subject>``; raise :class:`APIError` on an error answer."""
        data = json.dumps(body).encode() if body is not None else b""
        msg = await self.client.request("$JS.API." + subject, data, timeout=self.timeout)
        reply: dict[str, Any] = json.loads(msg.data)
        error = reply.get("error")
        if error:
            raise APIError(error.get("code", 0), error.get("err_code", 0), error["description"])
        return reply

    async def publish(
        self, subject: str, data: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> int:
        """Publish to a stream and wait for its PubAck; the stored sequence."""
        msg = await self.client.request(subject, data, timeout=self.timeout, headers=headers)
        ack: dict[str, Any] = json.loads(msg.data)
        error = ack.get("error")
        if error:
            raise APIError(error.get("code", 0), error.get("err_code", 0), error["description"])
        return int(ack["seq"])

    async def direct_get(
        self, stream: str, last_by_subject: str | None = None, seq: int | None = None
    ) -> Msg | None:
        """Direct Get of the last message on a subject, or of a sequence; None on 404."""
        if last_by_subject is not None:
            msg = await self.client.request(
                f"$JS.API.DIRECT.GET.{stream}.{last_by_subject}", b"", timeout=self.timeout
            )
        else:
            body = json.dumps({"seq": seq}).encode()
            msg = await self.client.request(
                f"$JS.API.DIRECT.GET.{stream}", body, timeout=self.timeout
            )
        if msg.status == "404":
            return None
        if msg.status:
            desc = (msg.headers or {}).get("Description", msg.status)
            raise APIError(int(msg.status), 0, desc)
        return msg

    async def ordered(
        self,
        stream: str,
        filters: list[str],
        *,
        deliver_policy: str = "all",
        headers_only: bool = False,
    ) -> OrderedConsumer:
        """An ephemeral push consumer (ack none) whose deliveries are iterated in order."""
        inbox = "_INBOX." + secrets.token_hex(11)
        sub = await self.client.subscribe(inbox, pending_limit=1 << 20)
        config: dict[str, Any] = {
            "deliver_policy": deliver_policy,
            "ack_policy": "none",
            "max_deliver": 1,
            "replay_policy": "instant",
            # flow control, answered as the reader gets to each request: the broker never
            # queues more than its window for a slow in-process reader
            "flow_control": True,
            "idle_heartbeat": 5_000_000_000,
            "headers_only": headers_only,
            "deliver_subject": inbox,
            "mem_storage": True,
            "num_replicas": 1,
            "inactive_threshold": 300_000_000_000,
        }
        if len(filters) == 1:
            config["filter_subject"] = filters[0]
        else:
            config["filter_subjects"] = filters
        try:
            info = await self.api(
                f"CONSUMER.CREATE.{stream}", {"stream_name": stream, "config": config}
            )
        except BaseException:
            await sub.unsubscribe()
            raise
        consumer = OrderedConsumer(self, stream, info["name"], sub, int(info.get("num_pending", 0)))
        consumer.delivered = int(info.get("delivered", {}).get("consumer_seq", 0))
        return consumer


class OrderedConsumer:
    """Deliveries of an ephemeral push consumer; ``num_pending`` as created."""

    def __init__(
        self,
        js: JetStreamClient,
        stream: str,
        name: str,
        sub: InProcessSubscription,
        num_pending: int,
    ) -> None:
        self.js = js
        self.stream = stream
        self.name = name
        self.sub = sub
        self.num_pending = num_pending
        #: Deliveries made before the create response (its ``delivered.consumer_seq``).
        self.delivered = 0

    async def next(self, timeout: float | None = None) -> Delivery:
        """The next delivery (status messages such as heartbeats are skipped)."""
        while True:
            msg = await self.sub.next_msg(timeout)
            if msg.status == "100" and msg.reply:  # a flow-control request
                await self.js.client.publish(msg.reply, b"")
                continue
            if msg.status or not msg.reply.startswith("$JS.ACK."):
                continue
            tokens = msg.reply.split(".")
            return Delivery(
                msg.subject,
                msg.data,
                msg.headers or {},
                stream_seq=int(tokens[-4]),
                timestamp_ns=int(tokens[-2]),
                pending=int(tokens[-1]),
            )

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        while True:
            try:
                yield await self.next()
            except StopAsyncIteration:
                return

    async def stop(self) -> None:
        """Unsubscribe and delete the consumer."""
        await self.sub.unsubscribe()
        # already gone (inactive), or the broker is stopping
        with contextlib.suppress(APIError, NatskernError, RuntimeError):
            await self.js.api(f"CONSUMER.DELETE.{self.stream}.{self.name}")
