"""``natskern reply SUBJECT [BODY]`` — a generic service like ``nats reply``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shlex

import click
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from natskern.cli.connect import (
    confirm_subscriptions,
    connected,
    log_async_errors,
    round_trip,
    subscribe,
)
from natskern.cli.options import connection_options, get_options
from natskern.cli.output import go_quote, log, write_stdout
from natskern.cli.params import DURATION, header_option
from natskern.cli.runtime import run, wait_first
from natskern.cli.templates import TemplateError, check_header_flags, expand, parse_headers

__all__ = ["DEFAULT_QUEUE", "reply_command", "run_command"]

#: natscli's default queue group: several ``reply`` processes share the load.
DEFAULT_QUEUE = "NATS-RPLY-22"


@click.command("reply")
@click.argument("subject")
@click.argument("body", required=False, default="")
@click.option("--echo", is_flag=True, help="Echo back what is received.")
@click.option(
    "--command",
    "command",
    metavar="CMD",
    help="Run CMD per request and reply with its output ({{0}}.. are subject tokens).",
)
@click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True, help="Queue group name.")
@click.option(
    "--sleep",
    type=DURATION,
    default=0.0,
    metavar="MAX",
    help="Random delay up to MAX before each reply.",
)
@header_option
@click.option("--count", type=int, default=0, help="Quit after this many replies.")
@connection_options()
@click.pass_context
def reply_command(
    ctx: click.Context,
    subject: str,
    body: str,
    echo: bool,
    command: str | None,
    queue: str,
    sleep: float,
    headers: tuple[str, ...],
    count: int,
) -> None:
    """Answer requests on SUBJECT with BODY, the request itself (--echo) or a command's output.

    \b
      natskern reply hello.johan "Hello Johan :)"
      natskern reply 'weather.>' --command "curl -s wttr.in/{{1}}?format=3"
      natskern reply echo "you said: {{.Request}} (#{{Count}})"

    Templates as for pub, plus Request (the request body); Count starts at 0.
    """
    check_header_flags(headers)
    opts = get_options(ctx)
    if not body and not command and not echo:
        log("No body or command supplied, enabling echo mode")
        echo = True

    async def main(stop: asyncio.Event) -> None:
        async with connected(opts) as nc:
            await _serve(
                nc,
                stop,
                subject,
                body,
                echo,
                command,
                queue,
                sleep,
                headers,
                count,
                opts.resolve().timeout,
            )

    run(main)


async def run_command(template: str, msg: Msg, counter: int) -> bytes:
    """Run ``--command`` for one request and return its combined stdout+stderr.

    ``{{0}}``, ``{{1}}``... are replaced by the received subject's tokens, then
    the result is template-expanded (``{{.Request}}`` works), split
    shell-style and run with ``NATS_REQUEST_SUBJECT``/``NATS_REQUEST_BODY``.
    """
    raw = template
    for index, token in enumerate(msg.subject.split(".")):
        raw = raw.replace(f"{{{{{index}}}}}", token)
    request = msg.data.decode(errors="replace")
    try:
        raw = expand(raw, counter, request)
    except TemplateError as exc:
        log(f"Could not parse command template: {exc}")
    try:
        argv = shlex.split(raw)
    except ValueError as exc:
        log(f"Could not parse command: {exc}")
        return b""
    if not argv:
        return b""
    env = dict(os.environ, NATS_REQUEST_SUBJECT=msg.subject, NATS_REQUEST_BODY=request)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
        )
    except OSError as exc:
        log(f"Command {go_quote(raw)} failed to run: {exc}")
        return b""
    output, _ = await proc.communicate()
    if proc.returncode:
        log(f"Command {go_quote(raw)} failed to run: exit status {proc.returncode}")
    return output


async def _serve(
    nc: Client,
    stop: asyncio.Event,
    subject: str,
    body: str,
    echo: bool,
    command: str | None,
    queue: str,
    sleep: float,
    headers: tuple[str, ...],
    count: int,
    timeout: float,
) -> None:
    done = asyncio.Event()
    state = {"i": 0}

    async def on_request(msg: Msg) -> None:
        i = state["i"]
        log(f"[#{i}] Received on subject {go_quote(msg.subject)}:")
        for key, value in (msg.headers or {}).items():
            log(f"{key}: {value}")
        write_stdout(b"\n" + msg.data + b"\n")
        if sleep > 0:
            await asyncio.sleep(random.uniform(0, sleep))
        try:
            reply_headers = parse_headers(headers, i) or {}
        except ValueError as exc:
            log(str(exc))
            return
        if echo:
            reply_headers.update(msg.headers or {})
            reply_headers["NATS-Reply-Counter"] = str(i)
            data = msg.data
        elif command:
            data = await run_command(command, msg, i)
        else:
            request = msg.data.decode(errors="replace")
            try:
                data = expand(body, i, request).encode()
            except TemplateError as exc:
                log(f"Could not parse body template: {exc}")
                data = body.encode()
        if msg.reply:
            try:
                await nc.publish(msg.reply, data, headers=reply_headers or None)
            except nats.errors.Error as exc:
                log(f"Could not publish reply: {exc}")
                return
        state["i"] = i + 1
        if count and state["i"] >= count:
            await round_trip(nc, timeout)
            done.set()

    sub = await subscribe(nc, subject, queue=queue, cb=on_request)
    if count:
        await sub.unsubscribe(limit=count)
    await confirm_subscriptions(nc, timeout)
    log(f"Listening on {go_quote(subject)} in group {go_quote(queue)}")
    log_async_errors(nc)

    await wait_first(done.wait(), stop.wait())
    if done.is_set():
        return
    log("Draining...")
    with contextlib.suppress(TimeoutError, nats.errors.Error):  # best effort
        await nc.drain()
