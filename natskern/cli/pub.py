"""``natskern pub SUBJECT [BODY]`` — publish messages like ``nats pub``."""

from __future__ import annotations

import asyncio
import contextlib

import click
import nats.errors
from nats.aio.client import Client

from natskern.cli.body import bodies, body_options
from natskern.cli.connect import ConnOptions, connect, raise_async_error, round_trip
from natskern.cli.options import connection_options, get_options
from natskern.cli.output import err_console, go_quote, log, stderr_is_tty
from natskern.cli.params import DURATION, header_option
from natskern.cli.runtime import CliError, run, wait_or_stop
from natskern.cli.templates import check_header_flags, render_message

__all__ = ["pub_command", "publish_messages"]

#: Above this many messages a progress bar replaces the per-message log lines.
PROGRESS_THRESHOLD = 20


@click.command("pub")
@click.argument("subject")
@click.argument("body", required=False)
@click.option(
    "--count",
    type=int,
    default=1,
    show_default=True,
    help="Publish this many messages; -1 publishes until interrupted.",
)
@click.option(
    "--sleep",
    type=DURATION,
    default=0.0,
    metavar="DURATION",
    help="Sleep between messages (e.g. 1s, 250ms).",
)
@header_option
@click.option("--reply", "reply_to", metavar="SUBJECT", help="Sets a custom reply-to subject.")
@body_options("message")
@click.option("-q", "--quiet", is_flag=True, help="Show no per-message output.")
@connection_options()
@click.pass_context
def pub_command(
    ctx: click.Context,
    subject: str,
    body: str | None,
    count: int,
    sleep: float,
    headers: tuple[str, ...],
    reply_to: str | None,
    force_stdin: bool,
    send_on: str,
    templates: bool,
    quiet: bool,
) -> None:
    """Publish a message (or many) to SUBJECT.

    The body and header values may use templates:

    \b
      natskern pub test --count 10 "Message {{Count}} @ {{Time}}"
      natskern pub test --count 10 "Message {{Count}}: {{ Random 10 100 }}"

    Templates: Count, TimeStamp, Time, Unix, UnixNano, ID, UUID, Random MIN MAX.
    Without BODY the body is read from stdin.
    """
    check_header_flags(headers)
    opts = get_options(ctx)
    if count == 0:
        count = 1

    async def main(stop: asyncio.Event) -> None:
        nc = await connect(opts, log_errors=False)
        try:
            for text in bodies(body, force_stdin=force_stdin, send_on=send_on, quiet=quiet):
                if stop.is_set():
                    break
                await publish_messages(
                    nc,
                    opts,
                    stop,
                    subject,
                    text,
                    count=count,
                    sleep=sleep,
                    headers=headers,
                    reply_to=reply_to,
                    templates=templates,
                    quiet=quiet,
                )
        finally:
            await _close(nc)

    run(main)


async def _close(nc: Client) -> None:
    with contextlib.suppress(Exception):  # closing a dead connection
        await nc.close()


async def publish_messages(
    nc: Client,
    opts: ConnOptions,
    stop: asyncio.Event,
    subject: str,
    body: str,
    *,
    count: int = 1,
    sleep: float = 0.0,
    headers: tuple[str, ...] = (),
    reply_to: str | None = None,
    templates: bool = True,
    quiet: bool = False,
) -> int:
    """Publish ``count`` messages (``< 0``: until ``stop``) and return how many were sent.

    Each message is flushed and logged (``Published N bytes to "subj"``) unless
    more than :data:`PROGRESS_THRESHOLD` are sent, in which case a progress
    bar is shown on a terminal.  A server-reported error (e.g. a permissions
    violation) raises :class:`CliError`.
    """
    timeout = opts.resolve().timeout
    forever = count < 0
    per_message = not quiet and (forever or count <= PROGRESS_THRESHOLD)
    progress = None
    task_id = None
    if not per_message and not quiet and stderr_is_tty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        progress = Progress(
            "Publishing",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
        )
        progress.start()
        task_id = progress.add_task("publish", total=count)
    sent = 0
    used: set[str] = set()  # subjects for the case of error messages (bounded)
    try:
        while forever or sent < count:
            seq = sent + 1
            subj, data, hdrs = render_message(subject, body, headers, seq, templates=templates)
            payload = data.encode()
            if len(used) >= 1000:
                used.clear()
            used.add(subj)
            try:
                await nc.publish(subj, payload, reply=reply_to or "", headers=hdrs)
            except nats.errors.BadSubjectError:
                raise CliError(f"invalid subject {go_quote(subj)}") from None
            except nats.errors.MaxPayloadError:
                raise CliError(
                    f"message of {len(payload)} bytes exceeds the server's maximum payload"
                ) from None
            sent += 1
            if per_message or sleep > 0 or sent % 1000 == 0:
                await _flush(nc, timeout)
                raise_async_error(nc, *used, reply_to or "")
            if per_message:
                log(f"Published {len(payload)} bytes to {go_quote(subj)}")
            if progress is not None and task_id is not None:
                progress.update(task_id, completed=sent)
            if stop.is_set():
                break
            if sleep > 0 and (forever or sent < count):
                await wait_or_stop(asyncio.sleep(sleep), stop)
                if stop.is_set():
                    break
        await _flush(nc, timeout)
        raise_async_error(nc, *used, reply_to or "")
    finally:
        if progress is not None:
            progress.stop()
    return sent


async def _flush(nc: Client, timeout: float) -> None:
    try:
        await round_trip(nc, timeout)
    except (TimeoutError, nats.errors.TimeoutError):
        raise CliError("timeout waiting for the server to confirm the publish") from None
    except nats.errors.ConnectionClosedError:
        raise CliError("connection closed by the server") from None
