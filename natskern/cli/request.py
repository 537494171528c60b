"""``natskern request|req SUBJECT [BODY]`` — request-reply like ``nats req``."""

from __future__ import annotations

import asyncio
import time

import click
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from natskern.cli.body import bodies, body_options
from natskern.cli.connect import connected, raise_async_error
from natskern.cli.options import connection_options, get_options
from natskern.cli.output import (
    body_bytes,
    body_compact_bytes,
    go_quote,
    log,
    log_headers,
    write_stdout,
)
from natskern.cli.params import DURATION, header_option
from natskern.cli.runtime import CliError, run, wait_or_stop
from natskern.cli.templates import check_header_flags, render_message
from natskern.cli.units import format_duration

__all__ = ["request_command"]


def no_responders(subject: str) -> CliError:
    """The error for a request the server answered with a 503 no-responders status.

    natscli logs "No responders are available" and exits 0; natskern exits 1
    so that scripts can tell a request nobody answered from one that was.
    """
    return CliError(f"No responders are available on {go_quote(subject)}")


def no_reply(subject: str, timeout: float) -> CliError:
    """The error for a request that got no reply at all within ``timeout``."""
    return CliError(f"no reply on {go_quote(subject)} within {format_duration(timeout)}")


@click.command("request")
@click.argument("subject")
@click.argument("body", required=False)
@click.option(
    "--replies",
    type=int,
    default=1,
    show_default=True,
    help="Wait for this many replies; 0 collects until --timeout.",
)
@click.option(
    "--reply-timeout",
    type=DURATION,
    default=0.3,
    metavar="DURATION",
    help="Extra wait between replies when collecting several (default 300ms).",
)
@click.option("-r", "--raw", is_flag=True, help="Show only the reply bodies.")
@header_option
@click.option(
    "--count",
    type=int,
    default=1,
    show_default=True,
    help="Send this many requests (< 1: until interrupted).",
)
@click.option(
    "--sleep",
    type=DURATION,
    default=0.0,
    metavar="DURATION",
    help="Time between requests when sending several.",
)
@body_options("request")
@connection_options()
@click.pass_context
def request_command(
    ctx: click.Context,
    subject: str,
    body: str | None,
    replies: int,
    reply_timeout: float,
    raw: bool,
    headers: tuple[str, ...],
    count: int,
    sleep: float,
    force_stdin: bool,
    send_on: str,
    templates: bool,
) -> None:
    """Send a request to SUBJECT and show the reply (or replies).

    The body and headers may use the same templates as pub.  A request no
    service listens to fails with "No responders are available", one that gets
    no reply within --timeout with "no reply on SUBJECT within ..."; both exit 1
    (with --count, at the first request that fails).
    """
    check_header_flags(headers)
    opts = get_options(ctx)
    limit = count if count >= 1 else -1

    async def main(stop: asyncio.Event) -> None:
        async with connected(opts) as nc:
            timeout = opts.resolve().timeout
            for text in bodies(body, force_stdin=force_stdin, send_on=send_on, quiet=raw):
                seq = 0
                while limit < 0 or seq < limit:
                    seq += 1
                    started = time.monotonic()
                    await _one_request(
                        nc,
                        stop,
                        subject,
                        text,
                        seq,
                        headers,
                        templates,
                        replies,
                        reply_timeout,
                        raw,
                        timeout,
                    )
                    if stop.is_set():
                        return
                    pause = sleep - (time.monotonic() - started)
                    if (limit < 0 or seq < limit) and pause > 0:
                        await wait_or_stop(asyncio.sleep(pause), stop)
                    if stop.is_set():
                        return

    run(main)


async def _one_request(
    nc: Client,
    stop: asyncio.Event,
    subject: str,
    body: str,
    seq: int,
    headers: tuple[str, ...],
    templates: bool,
    replies: int,
    reply_timeout: float,
    raw: bool,
    timeout: float,
) -> None:
    subj, data, hdrs = render_message(subject, body, headers, seq, templates=templates)
    if not raw:
        log(f"Sending request on {go_quote(subj)}")
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        try:
            await nc.publish(subj, data.encode(), reply=inbox, headers=hdrs)
        except nats.errors.BadSubjectError:
            raise CliError(f"invalid subject {go_quote(subj)}") from None
        start = time.monotonic()
        wait = timeout
        received = 0
        rtt_total = 0.0
        while True:
            msg = await wait_or_stop(_next(sub, wait), stop)
            if msg is None:
                if received == 0 and not stop.is_set():
                    raise_async_error(nc, subj, inbox)
                    raise no_reply(subj, timeout)
                break
            raise_async_error(nc, subj, inbox)
            if msg.headers and msg.headers.get("Status") == "503" and not msg.data:
                raise no_responders(subj)
            rtt = time.monotonic() - start
            if raw:
                write_stdout(body_compact_bytes(msg.data))
            else:
                log(f"Received with rtt {format_duration(rtt)}")
                log_headers(msg.headers)
                write_stdout(body_bytes(msg.data))
            received += 1
            if replies > 0 and received >= replies:
                break
            if replies == 0:
                wait = timeout - (time.monotonic() - start)
            else:
                rtt_total += rtt
                wait = rtt_total / received + reply_timeout
            if wait <= 0:
                break
        raise_async_error(nc, subj, inbox)
    finally:
        if not nc.is_closed:
            await sub.unsubscribe()


async def _next(sub: Subscription, wait: float) -> Msg | None:
    """The next message within ``wait`` seconds, or ``None`` on timeout."""
    try:
        return await sub.next_msg(timeout=max(wait, 0.001))
    except nats.errors.TimeoutError:
        return None
