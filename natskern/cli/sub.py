"""``natskern sub SUBJECT...`` — subscribe and print messages like ``nats sub``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import click
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from natskern.cli.connect import confirm_subscriptions, connected, log_async_errors, subscribe
from natskern.cli.options import connection_options, get_options
from natskern.cli.output import (
    body_bytes,
    body_compact_bytes,
    go_quote,
    headers_bytes,
    log,
    write_stdout,
)
from natskern.cli.params import DURATION
from natskern.cli.runtime import CliError, run, wait_first

__all__ = ["format_message", "sub_command"]


def format_message(
    number: int,
    msg: Msg,
    *,
    raw: bool = False,
    headers_only: bool = False,
    subjects_only: bool = False,
) -> bytes:
    """Render one received message exactly as ``nats sub`` prints it."""
    if raw:
        return body_compact_bytes(msg.data)
    line = f"[#{number}] Received on {go_quote(msg.subject)}"
    if msg.reply:
        line += f" with reply {go_quote(msg.reply)}"
    out = line.encode() + b"\n"
    if subjects_only:
        return out
    out += headers_bytes(msg.headers)
    if not headers_only:
        out += body_bytes(msg.data)
    return out


@click.command("sub")
@click.argument("subjects", nargs=-1)
@click.option("--queue", metavar="NAME", help="Subscribe in a queue group.")
@click.option("--count", type=int, default=0, help="Quit after receiving this many messages.")
@click.option("-r", "--raw", is_flag=True, help="Show only the message bodies.")
@click.option("--headers-only", is_flag=True, help="Show headers but not bodies.")
@click.option("--subjects-only", is_flag=True, help="Show only the 'Received' line.")
@click.option(
    "-i", "--inbox", is_flag=True, help="Subscribe to a fresh inbox when no subject is given."
)
@click.option(
    "--wait",
    type=DURATION,
    default=0.0,
    metavar="DURATION",
    help="Quit after this long without a message.",
)
@click.option("--stream", metavar="STREAM", help="JetStream: consume this stream.")
@click.option("--durable", metavar="NAME", help="JetStream: bind to (or create) this durable.")
@click.option("--all", "js_all", is_flag=True, help="JetStream: from the first message.")
@click.option("--new", "js_new", is_flag=True, help="JetStream: only new messages.")
@click.option("--last", "js_last", is_flag=True, help="JetStream: from the last message.")
@click.option("--since", type=DURATION, metavar="DURATION", help="JetStream: since this long ago.")
@click.option("--start-sequence", type=int, metavar="N", help="JetStream: from sequence N.")
@click.option("--last-per-subject", is_flag=True, help="JetStream: last message per subject.")
@click.option(
    "-T", "--terminate-at-end", is_flag=True, help="JetStream: stop when no messages are pending."
)
@connection_options()
@click.pass_context
def sub_command(
    ctx: click.Context,
    subjects: tuple[str, ...],
    queue: str | None,
    count: int,
    raw: bool,
    headers_only: bool,
    subjects_only: bool,
    inbox: bool,
    wait: float,
    **js_flags: object,
) -> None:
    """Subscribe to SUBJECTS (wildcards allowed) and print what arrives.

    Any JetStream flag (--stream, --durable, --all, --new, --last, --since,
    --start-sequence, --last-per-subject) consumes a stream instead, as
    natscli does.

    \b
      natskern sub "hello.*"
      natskern sub hello.world --queue greeter
      natskern sub ">" --count 10
      natskern sub --stream ORDERS --all -T
    """
    opts = get_options(ctx)
    js = _js_options(js_flags)
    if js is not None and js.active:
        if queue:
            raise CliError("queue groups are not supported with JetStream")
        _js_subscribe(opts, js, subjects, count, raw, headers_only, subjects_only)
        return
    if not subjects and not inbox:
        raise CliError("a subject is required (or --inbox)")

    async def main(stop: asyncio.Event) -> None:
        async with connected(opts) as nc:
            await _subscribe(
                nc,
                stop,
                list(subjects),
                queue,
                count,
                raw,
                headers_only,
                subjects_only,
                inbox,
                wait,
                opts.resolve().timeout,
            )

    run(main)


def _js_options(flags: dict[str, object]) -> Any:
    """The JetStream flags as the JetStream plugin's options (``None``: none given)."""
    if not any(value not in (None, False) for value in flags.values()):
        return None
    try:
        from natskern.plugins.jetstream.cli.jsub import JsSubOptions
    except ImportError as exc:  # pragma: no cover - the plugin ships with natskern
        raise CliError(f"JetStream subscribe is unavailable: {exc}") from None
    return JsSubOptions(
        stream=flags.get("stream"),  # type: ignore[arg-type]
        durable=flags.get("durable"),  # type: ignore[arg-type]
        all=bool(flags.get("js_all")),
        new=bool(flags.get("js_new")),
        last=bool(flags.get("js_last")),
        since=flags.get("since"),  # type: ignore[arg-type]
        start_sequence=flags.get("start_sequence"),  # type: ignore[arg-type]
        last_per_subject=bool(flags.get("last_per_subject")),
        terminate_at_end=bool(flags.get("terminate_at_end")),
    )


def _js_subscribe(
    opts: Any,
    js: Any,
    subjects: tuple[str, ...],
    count: int,
    raw: bool,
    headers_only: bool,
    subjects_only: bool,
) -> None:
    from natskern.plugins.jetstream.cli.jsub import js_subscribe

    async def main(stop: asyncio.Event) -> None:
        async with connected(opts) as nc:
            await js_subscribe(
                nc,
                stop,
                list(subjects),
                js,
                timeout=opts.resolve().timeout,
                count=count,
                raw=raw,
                headers_only=headers_only,
                subjects_only=subjects_only,
            )

    run(main)


async def _subscribe(
    nc: Client,
    stop: asyncio.Event,
    subjects: list[str],
    queue: str | None,
    count: int,
    raw: bool,
    headers_only: bool,
    subjects_only: bool,
    inbox: bool,
    wait: float,
    timeout: float,
) -> None:
    if not subjects:
        subjects = [nc.new_inbox()]
    done = asyncio.Event()
    state = {"n": 0, "last": time.monotonic()}

    async def on_msg(msg: Msg) -> None:
        if count and state["n"] >= count:
            return
        state["n"] += 1
        state["last"] = time.monotonic()
        write_stdout(
            format_message(
                state["n"], msg, raw=raw, headers_only=headers_only, subjects_only=subjects_only
            )
        )
        if count and state["n"] >= count:
            done.set()

    for subject in subjects:
        await subscribe(nc, subject, queue=queue or "", cb=on_msg, pending_msgs_limit=1024 * 1024)
    await confirm_subscriptions(nc, timeout)
    # natscli skips this line with --raw; it goes to stderr, so keep it as a ready signal.
    where = ", ".join(subjects)
    group = f"in group {go_quote(queue)}" if queue else ""
    log(f"Subscribing on {where} {group}")
    log_async_errors(nc)

    waiters = [done.wait(), stop.wait()]
    if wait > 0:
        waiters.append(_idle(state, wait))
    await wait_first(*waiters)
    if done.is_set():
        return
    # Interrupted or idle: drain so every message already delivered is printed.
    with contextlib.suppress(TimeoutError, nats.errors.Error):  # best effort
        await nc.drain()


async def _idle(state: dict, wait: float) -> None:
    """Return once no message has arrived for ``wait`` seconds."""
    while True:
        remaining = state["last"] + wait - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(remaining)
