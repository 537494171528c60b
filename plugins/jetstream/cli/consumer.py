"""``natskern consumer ...``: JetStream consumer management like ``nats consumer``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import click
from nats.aio.msg import Msg
from natskern.plugins.jetstream.cli import format as fmt
from natskern.plugins.jetstream.cli.common import JsApi, confirm, print_json, run_with_client
from natskern.plugins.jetstream.cli.consumerconfig import (
    config_from_flags,
    consumer_options,
    consumer_page,
    format_js_message,
)

from natskern.cli.groups import AliasGroup
from natskern.cli.options import connection_options
from natskern.cli.output import log, write_stdout
from natskern.cli.runtime import CliError, wait_first

__all__ = ["consumer_group", "pull_loop"]

NS = 1_000_000_000


@click.group(
    "consumer",
    cls=AliasGroup,
    aliases={
        "create": "add",
        "new": "add",
        "nfo": "info",
        "list": "ls",
        "delete": "rm",
        "del": "rm",
        "update": "edit",
    },
)
def consumer_group() -> None:
    """JetStream consumer management (like nats consumer)."""


async def _info(api: JsApi, stream: str, name: str) -> dict[str, Any]:
    return await api.request(f"CONSUMER.INFO.{stream}.{name}")


@consumer_group.command("add")
@click.argument("stream")
@click.argument("name", required=False)
@consumer_options
@click.option("--ephemeral", is_flag=True, help="An ephemeral consumer (no NAME).")
@click.option("--defaults", is_flag=True, help="Accept defaults for everything not given.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the ConsumerInfo JSON.")
@connection_options()
@click.pass_context
def add_command(
    ctx: click.Context,
    stream: str,
    name: str | None,
    ephemeral: bool,
    defaults: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """Create consumer NAME on STREAM (natscli's flags; unattended with --defaults)."""
    config = config_from_flags(flags)
    if flags.get("pull") and config.get("deliver_subject"):
        raise CliError("a consumer is either --pull or --deliver SUBJECT")
    config.setdefault("deliver_policy", "all")
    config.setdefault("ack_policy", "none" if config.get("deliver_subject") else "explicit")
    config.setdefault("replay_policy", "instant")
    if not name and not ephemeral:
        raise CliError("a consumer name is required (or --ephemeral)")
    if name:
        config["durable_name"] = name
        config["name"] = name
    subject = f"CONSUMER.CREATE.{stream}" + (f".{name}" if name else "")

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await api.request(subject, {"stream_name": stream, "config": config})
        print_json(info) if as_json else consumer_page(info).print()

    run_with_client(ctx, body)


@consumer_group.command("edit")
@click.argument("stream")
@click.argument("name")
@consumer_options
@click.option("-f", "--force", is_flag=True, help="Apply without confirming.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the ConsumerInfo JSON.")
@connection_options()
@click.pass_context
def edit_command(
    ctx: click.Context, stream: str, name: str, force: bool, as_json: bool, **flags: Any
) -> None:
    """Change consumer NAME's configuration (only the given flags change)."""
    changes = config_from_flags(flags)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        current = (await _info(api, stream, name))["config"]
        updated = {**current, **changes}
        diff = [k for k in sorted(updated) if current.get(k) != updated.get(k)]
        if not diff:
            raise CliError("no configuration change requested")
        for key in diff:
            write_stdout(f"  {key}: {current.get(key)!r} -> {updated[key]!r}\n".encode())
        confirm(f"Really edit Consumer {stream} > {name}?", force)
        request = {"stream_name": stream, "config": updated, "action": "update"}
        info = await api.request(f"CONSUMER.CREATE.{stream}.{name}", request)
        print_json(info) if as_json else consumer_page(info).print()

    run_with_client(ctx, body)


@consumer_group.command("info")
@click.argument("stream")
@click.argument("name")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the raw ConsumerInfo JSON.")
@connection_options()
@click.pass_context
def info_command(ctx: click.Context, stream: str, name: str, as_json: bool) -> None:
    """Show a consumer's configuration and state."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await _info(api, stream, name)
        print_json(info) if as_json else consumer_page(info).print()

    run_with_client(ctx, body)


@consumer_group.command("ls")
@click.argument("stream")
@click.option("-n", "--names", is_flag=True, help="Only the names.")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@connection_options()
@click.pass_context
def ls_command(ctx: click.Context, stream: str, names: bool, as_json: bool) -> None:
    """List the consumers of STREAM."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        infos = sorted(
            await api.paged(f"CONSUMER.LIST.{stream}", "consumers"), key=lambda i: i["name"]
        )
        if as_json:
            print_json([i["name"] for i in infos] if names else infos)
        elif names:
            write_stdout("".join(i["name"] + "\n" for i in infos).encode())
        elif not infos:
            write_stdout(f"No Consumers defined on Stream {stream}\n".encode())
        else:
            rows = [
                [
                    i["name"],
                    i["config"].get("description", ""),
                    fmt.time_text(fmt.parse_time(i.get("created"))),
                    fmt.count(i.get("num_ack_pending", 0)),
                    fmt.count(i.get("num_pending", 0)),
                    fmt.ago(fmt.parse_time((i.get("delivered") or {}).get("last_active"))),
                ]
                for i in infos
            ]
            fmt.print_table(
                "Consumers",
                ["Name", "Description", "Created", "Ack Pending", "Unprocessed", "Last Delivery"],
                rows,
                right=3,
            )

    run_with_client(ctx, body)


@consumer_group.command("rm")
@click.argument("stream")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete without confirming.")
@connection_options()
@click.pass_context
def rm_command(ctx: click.Context, stream: str, name: str, force: bool) -> None:
    """Delete a consumer."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        confirm(f"Really delete Consumer {stream} > {name}?", force)
        await api.request(f"CONSUMER.DELETE.{stream}.{name}")

    run_with_client(ctx, body)


async def _ack(msg: Msg, no_ack: bool, nak: bool, term: bool) -> str:
    if no_ack or not msg.reply:
        return ""
    if term:
        await msg.term()
        return "Terminated message"
    if nak:
        await msg.nak()
        return "NaK'ed message"
    await msg.ack_sync()
    return "Acknowledged message"


@consumer_group.command("next")
@click.argument("stream")
@click.argument("name")
@click.option("--count", type=int, default=1, show_default=True, help="How many messages.")
@click.option("--ack/--no-ack", default=True, help="Acknowledge the messages.")
@click.option("--nak", is_flag=True, help="NaK instead of acknowledging.")
@click.option("--term", is_flag=True, help="Terminate instead of acknowledging.")
@click.option("-r", "--raw", is_flag=True, help="Only the bodies.")
@connection_options()
@click.pass_context
def next_command(
    ctx: click.Context,
    stream: str,
    name: str,
    count: int,
    ack: bool,
    nak: bool,
    term: bool,
    raw: bool,
) -> None:
    """Fetch the next COUNT messages from a pull consumer."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await _info(api, stream, name)
        if info["config"].get("deliver_subject"):
            raise CliError(f"consumer {stream} > {name} is not a Pull consumer")
        inbox = api.nc.new_inbox()
        sub = await api.nc.subscribe(inbox)
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"
        for _ in range(count):
            request = {"batch": 1, "expires": int(api.timeout * NS)}
            await api.nc.publish(subject, json.dumps(request).encode(), reply=inbox)
            while True:
                try:
                    msg = await sub.next_msg(timeout=api.timeout + 1)
                except TimeoutError:
                    raise CliError("no message received: timeout") from None
                status = (msg.headers or {}).get("Status")
                if status == "100":
                    continue
                if status:
                    desc = (msg.headers or {}).get("Description", "")
                    raise CliError(f"no message received: {status} {desc}".strip())
                break
            out = format_js_message(msg, raw=raw)
            done = await _ack(msg, not ack, nak, term)
            write_stdout(out + (f"{done}\n\n".encode() if done and not raw else b""))
        await sub.unsubscribe()

    run_with_client(ctx, body)


@consumer_group.command("sub")
@click.argument("stream")
@click.argument("name")
@click.option("--count", type=int, default=0, help="Quit after this many messages.")
@click.option("--ack/--no-ack", default=True, help="Acknowledge the messages.")
@click.option("-r", "--raw", is_flag=True, help="Only the bodies.")
@connection_options()
@click.pass_context
def sub_command(
    ctx: click.Context, stream: str, name: str, count: int, ack: bool, raw: bool
) -> None:
    """Consume messages from a push or pull consumer until interrupted."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        cfg = (await _info(api, stream, name))["config"]
        done, seen = asyncio.Event(), [0]

        async def on_msg(msg: Msg) -> None:
            status = (msg.headers or {}).get("Status")
            if status == "100" and msg.reply:  # flow control request
                await api.nc.publish(msg.reply, b"")
            if status or (count and seen[0] >= count):
                return
            seen[0] += 1
            out = format_js_message(msg, raw=raw)
            acked = await _ack(msg, not ack or cfg.get("ack_policy") == "none", False, False)
            write_stdout(out + (f"{acked}\n\n".encode() if acked and not raw else b""))
            if count and seen[0] >= count:
                done.set()

        if cfg.get("deliver_subject"):
            await api.nc.subscribe(
                cfg["deliver_subject"], queue=cfg.get("deliver_group") or "", cb=on_msg
            )
            await api.nc.flush()
            log(f"Consuming from {stream} > {name} on {cfg['deliver_subject']}")
            await wait_first(done.wait(), stop.wait())
            return
        log(f"Consuming from {stream} > {name}")
        loop = pull_loop(api, stream, name, on_msg, done, lambda: count - seen[0] if count else 64)
        await wait_first(done.wait(), stop.wait(), loop)

    run_with_client(ctx, body)


async def pull_loop(
    api: JsApi,
    stream: str,
    name: str,
    on_msg: Callable[[Msg], Any],
    done: asyncio.Event,
    wanted: Callable[[], int],
) -> None:
    """Pull batches (never more than still wanted) and hand each message to ``on_msg``."""
    inbox = api.nc.new_inbox()
    sub = await api.nc.subscribe(inbox)
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{name}"
    while not done.is_set():
        batch = max(min(wanted(), 64), 1)
        request = {"batch": batch, "expires": 5 * NS}
        await api.nc.publish(subject, json.dumps(request).encode(), reply=inbox)
        got = 0
        while got < batch and not done.is_set():
            try:
                msg = await sub.next_msg(timeout=6)
            except TimeoutError:
                break
            status = (msg.headers or {}).get("Status")
            if status in ("404", "408", "409"):
                break
            if not status:
                got += 1
                await on_msg(msg)


@consumer_group.command("report")
@click.argument("stream")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@connection_options()
@click.pass_context
def report_command(ctx: click.Context, stream: str, as_json: bool) -> None:
    """A table of STREAM's consumers: mode, acks, pending and redeliveries."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        infos = sorted(
            await api.paged(f"CONSUMER.LIST.{stream}", "consumers"), key=lambda i: i["name"]
        )
        if as_json:
            print_json(infos)
            return
        rows = []
        for i in infos:
            cfg = i["config"]
            rows.append(
                [
                    i["name"],
                    "Push" if cfg.get("deliver_subject") else "Pull",
                    fmt.title_case(cfg.get("ack_policy")),
                    fmt.duration_ns(cfg.get("ack_wait"), zero="0s"),
                    fmt.count(i.get("num_ack_pending", 0)),
                    fmt.count(i.get("num_redelivered", 0)),
                    fmt.count(i.get("num_pending", 0)),
                    fmt.count((i.get("ack_floor") or {}).get("stream_seq", 0)),
                ]
            )
        title = f"Consumer report for {stream} with {len(infos)} consumers"
        fmt.print_table(
            title,
            [
                "Consumer",
                "Mode",
                "Ack Policy",
                "Ack Wait",
                "Ack Pending",
                "Redelivered",
                "Unprocessed",
                "Ack Floor",
            ],
            rows,
            right=3,
        )

    run_with_client(ctx, body)
