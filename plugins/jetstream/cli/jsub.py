"""``natskern sub --stream S ...``: natscli's JetStream subscribe.

JetStream mode is implied by any of ``--stream --durable --all --new --last
--since --start-sequence --last-per-subject``.  One subject is allowed; the
stream is looked up by subject unless ``--stream`` is given.  Without a
durable an ephemeral pull consumer (``ack_policy: none``) is created and
deleted on the way out; ``--durable NAME`` binds to that consumer or creates
it (explicit acks, every message acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from natskern.plugins.jetstream.cli.common import JsApi
from natskern.plugins.jetstream.cli.consumer import pull_loop

from natskern.cli.output import body_bytes, headers_bytes, log, write_stdout
from natskern.cli.runtime import CliError, wait_first

__all__ = ["JsSubOptions", "format_stream_message", "js_subscribe"]

NS = 1_000_000_000


@dataclass
class JsSubOptions:
    """The JetStream flags of ``sub``."""

    stream: str | None = None
    durable: str | None = None
    all: bool = False
    new: bool = False
    last: bool = False
    since: float | None = None
    start_sequence: int | None = None
    last_per_subject: bool = False
    terminate_at_end: bool = False

    @property
    def active(self) -> bool:
        """Whether any flag asks for JetStream mode."""
        return bool(
            self.stream
            or self.durable
            or self.all
            or self.new
            or self.last
            or self.since is not None
            or self.start_sequence is not None
            or self.last_per_subject
        )

    def policy(self, subject: str) -> tuple[dict[str, Any], str]:
        """The consumer's deliver policy fields and natscli's start log line ('' for none)."""
        where = f"Subscribing to subject {subject}"
        if self.new:
            return {"deliver_policy": "new"}, f"{where} for new messages"
        if self.last:
            return {"deliver_policy": "last"}, f"{where} from last received message"
        if self.last_per_subject:
            return {"deliver_policy": "last_per_subject"}, f"{where} for last message per subject"
        if self.start_sequence is not None:
            return (
                {"deliver_policy": "by_start_sequence", "opt_start_seq": self.start_sequence},
                f"{where} starting at sequence {self.start_sequence}",
            )
        if self.since is not None:
            start = time.time() - self.since
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start))
            stamp += f".{int(start % 1 * 1e9):09d}Z"
            return (
                {"deliver_policy": "by_start_time", "opt_start_time": stamp},
                f"{where} since {self.since:g}s",
            )
        line = f"{where} from first received message" if self.all else ""
        return {"deliver_policy": "all"}, line


def format_stream_message(
    number: int,
    msg: Msg,
    *,
    raw: bool = False,
    headers_only: bool = False,
    subjects_only: bool = False,
) -> bytes:
    """A JetStream message as ``nats sub`` prints it."""
    if raw:
        return msg.data + b"\n" if not msg.data.endswith(b"\n") else msg.data
    meta = msg.metadata
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(meta.timestamp.timestamp()))
    out = (
        f"[#{number}] Received JetStream message: stream: {meta.stream} seq: "
        f"{meta.sequence.stream} / pending: {meta.num_pending} / subject: {msg.subject}"
        f" / time: {when}\n"
    ).encode()
    if subjects_only:
        return out
    out += headers_bytes(msg.headers)
    return out if headers_only else out + body_bytes(msg.data)


async def _stream_for(api: JsApi, subject: str) -> str:
    answer = await api.request("STREAM.NAMES", {"subject": subject})
    names = answer.get("streams") or []
    if not names:
        raise CliError(f"no stream found with subject: {subject}")
    return names[0]


async def js_subscribe(
    nc: Client,
    stop: asyncio.Event,
    subjects: list[str],
    opts: JsSubOptions,
    *,
    timeout: float,
    count: int = 0,
    raw: bool = False,
    headers_only: bool = False,
    subjects_only: bool = False,
) -> None:
    """Consume a stream through a pull consumer and print like ``nats sub``."""
    if len(subjects) > 1:
        raise CliError("JetStream subscribe accepts only one subject")
    api = JsApi(nc, timeout)
    subject = subjects[0] if subjects else ""
    stream = opts.stream or await _stream_for(api, subject or ">")
    fields, line = opts.policy(subject or ">")
    config: dict[str, Any] = {
        **fields,
        "filter_subject": subject or ">",
        "replay_policy": "instant",
        "headers_only": headers_only,
    }
    created = ""
    if opts.durable:
        try:
            info = await api.request(f"CONSUMER.INFO.{stream}.{opts.durable}")
        except CliError:
            config.update(durable_name=opts.durable, name=opts.durable, ack_policy="explicit")
            body = {"stream_name": stream, "config": config}
            info = await api.request(f"CONSUMER.CREATE.{stream}.{opts.durable}", body)
        if info["config"].get("deliver_subject"):
            raise CliError(f"consumer {opts.durable} is not a pull consumer")
    else:
        config.update(
            ack_policy="none", mem_storage=True, num_replicas=1, inactive_threshold=60 * NS
        )
        info = await api.request(
            f"CONSUMER.CREATE.{stream}", {"stream_name": stream, "config": config}
        )
        created = info["name"]
    name = info["name"]
    acks = info["config"].get("ack_policy") != "none"
    if line:
        log(line)
    done, seen = asyncio.Event(), [0]
    if opts.terminate_at_end and info.get("num_pending", 0) == 0:
        done.set()

    async def on_msg(msg: Msg) -> None:
        if count and seen[0] >= count:
            return
        seen[0] += 1
        write_stdout(
            format_stream_message(
                seen[0], msg, raw=raw, headers_only=headers_only, subjects_only=subjects_only
            )
        )
        if acks:
            await msg.ack()
        if (count and seen[0] >= count) or (
            opts.terminate_at_end and msg.metadata.num_pending == 0
        ):
            done.set()

    loop = pull_loop(api, stream, name, on_msg, done, lambda: count - seen[0] if count else 64)
    try:
        if not done.is_set():
            await wait_first(done.wait(), stop.wait(), loop)
        else:
            loop.close()
        if acks:
            await nc.flush()
    finally:
        if created and not nc.is_closed:
            with contextlib.suppress(Exception):
                await api.request(f"CONSUMER.DELETE.{stream}.{created}")
