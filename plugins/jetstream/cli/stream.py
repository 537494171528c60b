"""``natskern stream ...``: JetStream stream management like ``nats stream``."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import click
from natskern.plugins.jetstream.cli import format as fmt
from natskern.plugins.jetstream.cli.common import JsApi, confirm, print_json, run_with_client
from natskern.plugins.jetstream.cli.streamconfig import (
    DEFAULTS,
    config_from_flags,
    limit_options,
    parse_headers,
    stream_page,
)

from natskern.cli.groups import AliasGroup
from natskern.cli.options import connection_options
from natskern.cli.output import body_bytes, write_stdout
from natskern.cli.runtime import CliError

__all__ = ["stream_group"]

NS = 1_000_000_000


@click.group(
    "stream",
    cls=AliasGroup,
    aliases={
        "create": "add",
        "new": "add",
        "nfo": "info",
        "list": "ls",
        "delete": "rm",
        "del": "rm",
        "update": "edit",
        "subj": "subjects",
        "cp": "copy",
        "snapshot": "backup",
    },
)
def stream_group() -> None:
    """JetStream stream management (like nats stream)."""


async def _info(api: JsApi, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return await api.request(f"STREAM.INFO.{name}", body)


@stream_group.command("add")
@click.argument("name", required=False)
@limit_options
@click.option("--defaults", is_flag=True, help="Accept defaults for everything not given.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the StreamInfo JSON.")
@connection_options()
@click.pass_context
def add_command(
    ctx: click.Context, name: str | None, defaults: bool, as_json: bool, **flags: Any
) -> None:
    """Create a stream NAME (natscli's flags; unattended with --defaults)."""
    config = {**DEFAULTS, **config_from_flags(flags)}
    if name:
        config["name"] = name
    if not config.get("name"):
        raise CliError("a stream name is required")
    config.setdefault("subjects", [config["name"]])

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await api.request(f"STREAM.CREATE.{config['name']}", config)
        print_json(info) if as_json else stream_page(info).print()

    run_with_client(ctx, body)


@stream_group.command("edit")
@click.argument("name")
@limit_options
@click.option("-f", "--force", is_flag=True, help="Apply without confirming.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the StreamInfo JSON.")
@connection_options()
@click.pass_context
def edit_command(ctx: click.Context, name: str, force: bool, as_json: bool, **flags: Any) -> None:
    """Change the configuration of stream NAME (only the given flags change)."""
    changes = config_from_flags(flags)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        current = (await _info(api, name))["config"]
        updated = {**current, **changes, "name": name}
        diff = [k for k in sorted(updated) if current.get(k) != updated.get(k)]
        if not diff:
            raise CliError("no configuration change requested")
        for key in diff:
            write_stdout(f"  {key}: {current.get(key)!r} -> {updated[key]!r}\n".encode())
        confirm(f"Really edit Stream {name}?", force)
        info = await api.request(f"STREAM.UPDATE.{name}", updated)
        print_json(info) if as_json else stream_page(info).print()

    run_with_client(ctx, body)


@stream_group.command("info")
@click.argument("name")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the raw StreamInfo JSON.")
@connection_options()
@click.pass_context
def info_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a stream's configuration and state."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await _info(api, name)
        print_json(info) if as_json else stream_page(info).print()

    run_with_client(ctx, body)


@stream_group.command("ls")
@click.option("-n", "--names", is_flag=True, help="Only the names.")
@click.option("--subject", help="Only streams with this subject.")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@click.option("-a", "--all", "show_all", is_flag=True, help="Include internal streams (KV_, OBJ_).")
@connection_options()
@click.pass_context
def ls_command(
    ctx: click.Context, names: bool, subject: str | None, as_json: bool, show_all: bool
) -> None:
    """List the streams."""
    filt = {"subject": subject} if subject else {}

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        infos = await api.paged("STREAM.LIST", "streams", filt)
        if not show_all:
            infos = [i for i in infos if not i["config"]["name"].startswith(("KV_", "OBJ_"))]
        infos.sort(key=lambda i: i["config"]["name"])
        if as_json:
            print_json([i["config"]["name"] for i in infos] if names else infos)
        elif names:
            write_stdout("".join(i["config"]["name"] + "\n" for i in infos).encode())
        elif not infos:
            write_stdout(b"No Streams defined\n")
        else:
            rows = []
            for i in infos:
                st = i.get("state", {})
                last = fmt.parse_time(st.get("last_ts")) if st.get("last_seq") else None
                rows.append(
                    [
                        i["config"]["name"],
                        i["config"].get("description", ""),
                        fmt.time_text(fmt.parse_time(i.get("created"))),
                        fmt.count(st.get("messages", 0)),
                        fmt.size(st.get("bytes", 0)),
                        fmt.ago(last),
                    ]
                )
            fmt.print_table(
                "Streams",
                ["Name", "Description", "Created", "Messages", "Size", "Last Message"],
                rows,
                right=3,
            )

    run_with_client(ctx, body)


@stream_group.command("rm")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Delete without confirming.")
@connection_options()
@click.pass_context
def rm_command(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a stream and all its messages."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        confirm(f"Really delete Stream {name}?", force)
        await api.request(f"STREAM.DELETE.{name}")

    run_with_client(ctx, body)


@stream_group.command("purge")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Purge without confirming.")
@click.option("--subject", help="Only messages on this subject.")
@click.option("--seq", type=int, help="Up to (not including) this sequence.")
@click.option("--keep", type=int, help="Keep this many newest messages.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the StreamInfo JSON.")
@connection_options()
@click.pass_context
def purge_command(
    ctx: click.Context,
    name: str,
    force: bool,
    subject: str | None,
    seq: int | None,
    keep: int | None,
    as_json: bool,
) -> None:
    """Remove messages from a stream (all, or by subject / sequence / keep)."""
    request = {
        k: v for k, v in (("filter", subject), ("seq", seq), ("keep", keep)) if v is not None
    }

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        confirm(f"Really purge Stream {name}?", force)
        await api.request(f"STREAM.PURGE.{name}", request or None)
        info = await _info(api, name)
        print_json(info) if as_json else stream_page(info).print()

    run_with_client(ctx, body)


def _message_text(msg: dict[str, Any], stream: str) -> bytes:
    when = fmt.parse_time(msg.get("time"))
    out = (
        f"Item: {stream}#{msg.get('seq')} received {fmt.time_text(when)} ({fmt.ago(when)} ago)"
        f" on Subject {msg.get('subject')}\n\n"
    ).encode()
    headers = parse_headers(base64.b64decode(msg["hdrs"])) if msg.get("hdrs") else []
    if headers:
        out += b"Headers:\n" + "".join(f"  {k}: {v}\n" for k, v in headers).encode() + b"\n"
    return out + body_bytes(base64.b64decode(msg.get("data") or ""))


@stream_group.command("get")
@click.argument("name")
@click.argument("seq", type=int, required=False)
@click.option(
    "-S", "--last-for", "last_for", metavar="SUBJECT", help="The last message on SUBJECT."
)
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@connection_options()
@click.pass_context
def get_command(
    ctx: click.Context, name: str, seq: int | None, last_for: str | None, as_json: bool
) -> None:
    """Show one message: by sequence, or the last for a subject."""
    if (seq is None) == (last_for is None):
        raise CliError("give a sequence or --last-for SUBJECT")
    request = {"seq": seq} if seq is not None else {"last_by_subj": last_for}

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        msg = (await api.request(f"STREAM.MSG.GET.{name}", request))["message"]
        print_json(msg) if as_json else write_stdout(_message_text(msg, name))

    run_with_client(ctx, body)


@stream_group.command("rmm")
@click.argument("name")
@click.argument("seq", type=int)
@click.option("-f", "--force", is_flag=True, help="Delete without confirming.")
@connection_options()
@click.pass_context
def rmm_command(ctx: click.Context, name: str, seq: int, force: bool) -> None:
    """Securely delete message SEQ from a stream."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        confirm(f"Really remove message {seq} from Stream {name}?", force)
        await api.request(f"STREAM.MSG.DELETE.{name}", {"seq": seq})

    run_with_client(ctx, body)


@stream_group.command("view")
@click.argument("name")
@click.argument("size", type=int, required=False)
@click.option("--count", "size_opt", type=int, help="How many messages (default 10).")
@click.option("--id", "start", type=int, help="Start at this sequence.")
@click.option("--subject", help="Only messages on this subject.")
@click.option("--raw", is_flag=True, help="Only the bodies.")
@connection_options()
@click.pass_context
def view_command(
    ctx: click.Context,
    name: str,
    size: int | None,
    size_opt: int | None,
    start: int | None,
    subject: str | None,
    raw: bool,
) -> None:
    """Show a stream's messages (read by sequence, no consumer is created)."""
    wanted = size_opt or size or 10

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        state = (await _info(api, name))["state"]
        seq, last, shown = max(start or 0, state.get("first_seq", 0)), state.get("last_seq", 0), 0
        while shown < wanted and seq <= last and not stop.is_set():
            request: dict[str, Any] = {"seq": seq}
            if subject:
                request["next_by_subj"] = subject
            try:
                msg = (await api.request(f"STREAM.MSG.GET.{name}", request))["message"]
            except CliError:
                if subject:  # no later message on the subject
                    break
                seq += 1  # a deleted sequence
                continue
            seq, shown = msg["seq"] + 1, shown + 1
            data = base64.b64decode(msg.get("data") or "")
            if raw:
                write_stdout(data + b"\n")
                continue
            when = fmt.time_text(fmt.parse_time(msg.get("time")))
            out = f"[{msg['seq']}] Subject: {msg['subject']} Received: {when}\n".encode()
            headers = parse_headers(base64.b64decode(msg["hdrs"])) if msg.get("hdrs") else []
            out += "".join(f"  {k}: {v}\n" for k, v in headers).encode()
            write_stdout(out + b"\n" + body_bytes(data))
        if shown < wanted:
            write_stdout(b"Reached apparent end of data\n")

    run_with_client(ctx, body)


@stream_group.command("report")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@connection_options()
@click.pass_context
def report_command(ctx: click.Context, as_json: bool) -> None:
    """A table of every stream's storage, consumers, messages and bytes."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        infos = sorted(await api.paged("STREAM.LIST", "streams"), key=lambda i: i["config"]["name"])
        if as_json:
            print_json(infos)
            return
        rows = []
        for i in infos:
            cfg, st = i["config"], i.get("state", {})
            rows.append(
                [
                    cfg["name"],
                    fmt.title_case(cfg.get("storage")),
                    (i.get("cluster") or {}).get("name", ""),
                    fmt.count(st.get("consumer_count", 0)),
                    fmt.count(st.get("messages", 0)),
                    fmt.size(st.get("bytes", 0)),
                    fmt.count(len(st.get("lost") or [])),
                    fmt.count(st.get("num_deleted", 0)),
                    str(cfg.get("num_replicas", 1)),
                ]
            )
        fmt.print_table(
            "Stream Report",
            [
                "Stream",
                "Storage",
                "Placement",
                "Consumers",
                "Messages",
                "Bytes",
                "Lost",
                "Deleted",
                "Replicas",
            ],
            rows,
            right=3,
        )

    run_with_client(ctx, body)


@stream_group.command("subjects")
@click.argument("name")
@click.argument("filter_subject", metavar="[FILTER]", required=False)
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@connection_options()
@click.pass_context
def subjects_command(
    ctx: click.Context, name: str, filter_subject: str | None, as_json: bool
) -> None:
    """Message counts per subject (optionally matching FILTER)."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await _info(api, name, {"subjects_filter": filter_subject or ">"})
        subjects: dict[str, int] = info.get("state", {}).get("subjects") or {}
        if as_json:
            print_json(subjects)
        elif not subjects:
            write_stdout(f"No subjects found matching {filter_subject or '>'}\n".encode())
        else:
            rows = [[s, fmt.count(n)] for s, n in sorted(subjects.items())]
            fmt.print_table(
                f"{len(rows)} Subjects in stream {name}", ["Subject", "Count"], rows, right=1
            )

    run_with_client(ctx, body)


@stream_group.command("state")
@click.argument("name")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the raw state JSON.")
@connection_options()
@click.pass_context
def state_command(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show only a stream's state."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        info = await _info(api, name)
        if as_json:
            print_json(info.get("state", {}))
            return
        page = stream_page(info)
        page.heading = f"State for Stream {name} created {page.heading.split(' created ', 1)[-1]}"
        page.sections = [s for s in page.sections if s[0] == "State"]
        page.print()

    run_with_client(ctx, body)


@stream_group.command("copy")
@click.argument("source")
@click.argument("destination")
@click.option(
    "--subjects",
    multiple=True,
    help="Subjects of the new stream (required when the source has some).",
)
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the StreamInfo JSON.")
@connection_options()
@click.pass_context
def copy_command(
    ctx: click.Context, source: str, destination: str, subjects: tuple[str, ...], as_json: bool
) -> None:
    """Create stream DESTINATION with SOURCE's configuration (no data is copied)."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        config = {**(await _info(api, source))["config"], "name": destination}
        config["subjects"] = [s for item in subjects for s in item.split(",") if s]
        info = await api.request(f"STREAM.CREATE.{destination}", config)
        print_json(info) if as_json else stream_page(info).print()

    run_with_client(ctx, body)


from natskern.plugins.jetstream.cli.backup import backup_command, restore_command  # noqa: E402

stream_group.add_command(backup_command)
stream_group.add_command(restore_command)
