"""``natskern kv ...``: natscli's KV commands, over nats-py's KV API."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import sys
import tempfile
from typing import Any

import click
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
)
from natskern.plugins.jetstream.cli import format as fmt
from natskern.plugins.jetstream.cli.common import JsApi, confirm, run_with_client
from natskern.plugins.kv.config import bucket_prefixes, bucket_stream_config
from natskern.plugins.kv.status_page import status_page as _status_page

from natskern.cli.groups import AliasGroup
from natskern.cli.options import connection_options
from natskern.cli.output import write_stdout
from natskern.cli.params import DURATION, SIZE
from natskern.cli.runtime import CliError

__all__ = ["kv"]

OPS = {None: "PUT", "DEL": "DELETE", "PURGE": "PURGE"}


def _out(text: str) -> None:
    write_stdout((text + "\n").encode())


def _printable(value: bytes) -> str:
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return base64.b64encode(value).decode()
    return text if text.isprintable() or not text else base64.b64encode(value).decode()


def _when(e: Any) -> str:
    created = e.created if isinstance(e.created, dt.datetime) else None
    return fmt.time_text(created) if created else ""


async def _stored_at(api: JsApi, handle: Any, revision: int) -> str:
    """When revision ``revision`` was stored (nats-py's ``get`` leaves ``created`` unset):
    its ``Nats-Time-Stamp`` from a direct get, or "" when the bucket takes none."""
    js = api.nc.jetstream(timeout=api.timeout)
    try:
        msg = await js.get_msg(handle._stream, seq=revision, direct=True)
    except (NotFoundError, APIError, TimeoutError):  # (nats-py's timeout is one too)
        return ""
    stamp = (msg.headers or {}).get("Nats-Time-Stamp")
    return fmt.time_text(fmt.parse_time(stamp))


def _wrong_last(exc: KeyWrongLastSequenceError) -> CliError:
    """nats.go's text for a failed compare-and-set (the server's description already
    says ``wrong last sequence: N``)."""
    return CliError(f"nats: {exc.description or 'wrong last sequence'}")


async def _bucket(api: JsApi, name: str) -> Any:
    """nats-py's handle of bucket ``name``; a mirror's reads and writes use its origin's
    prefix, as nats.go binds a mirror (its stream holds ``$KV.<origin>.<key>``)."""
    js = api.nc.jetstream(timeout=api.timeout)
    try:
        handle = await js.key_value(name)
        info = await js.stream_info(f"KV_{name}")
    except (BucketNotFoundError, NotFoundError):
        raise CliError(f"nats: bucket not found: {name}") from None
    mirror = info.config.mirror
    if mirror is not None:
        handle._pre = bucket_prefixes(name, {"mirror": {"name": mirror.name}})[0]
    return handle


@click.group(
    "kv",
    cls=AliasGroup,
    aliases={"rm": "del", "list": "ls", "status": "info", "view": "info", "new": "add"},
)
def kv() -> None:
    """Interacts with a JetStream based Key-Value store."""


@kv.command("add")
@click.argument("bucket")
@click.option("--history", type=click.IntRange(1, 64), default=1, help="Values kept per key.")
@click.option("--ttl", type=DURATION, default=None, help="How long values are kept.")
@click.option("--storage", type=click.Choice(["file", "memory"]), default="file")
@click.option("--max-value-size", type=SIZE, default=-1, help="Largest value allowed.")
@click.option("--max-bucket-size", type=SIZE, default=-1, help="Largest bucket allowed.")
@click.option("--description", default=None)
@click.option("--replicas", type=int, default=1)
@click.option("--compress", is_flag=True, help="Compress the bucket's data (s2).")
@click.option("--marker-ttl", type=DURATION, default=None, help="Limit markers kept this long.")
@click.option("--metadata", multiple=True, metavar="K=V", help="Metadata (repeatable).")
@click.option("--republish-source", default=None, help="Republish keys matching this.")
@click.option("--republish-destination", default=None, help="Republish to this subject.")
@click.option("--republish-headers", is_flag=True, help="Republish headers only.")
@click.option("--mirror", default=None, help="Mirror this bucket.")
@click.option("--mirror-domain", default=None, help="The JetStream domain of the mirror's origin.")
@click.option("--source", "sources", multiple=True, help="Source this bucket (repeatable).")
@connection_options()
@click.pass_context
def add(ctx: click.Context, bucket: str, history: int, ttl: float | None, storage: str,
        max_value_size: int, max_bucket_size: int, description: str | None,
        replicas: int, compress: bool, marker_ttl: float | None, metadata: tuple[str, ...],
        republish_source: str | None, republish_destination: str | None,
        republish_headers: bool, mirror: str | None, mirror_domain: str | None,
        sources: tuple[str, ...]) -> None:  # fmt: skip
    """Adds a new KV Store Bucket (nats.go's stream configuration, as natscli makes it)."""
    meta: dict[str, str] = {}
    for item in metadata:
        key, eq, val = item.partition("=")
        if not eq or not key:
            raise CliError(f"invalid metadata {item!r}: use KEY=VALUE")
        meta[key] = val
    republish: dict[str, Any] | None = None
    if republish_destination:
        republish = {"src": republish_source or ">", "dest": republish_destination}
        if republish_headers:
            republish["headers_only"] = True
    origin: dict[str, Any] | None = None
    if mirror:
        origin = {"name": mirror, "domain": mirror_domain} if mirror_domain else {"name": mirror}
    try:
        config = bucket_stream_config(
            bucket, history=history, ttl=ttl if ttl and ttl > 0 else 0, storage=storage,
            max_value_size=max_value_size, max_bytes=max_bucket_size,
            description=description, replicas=replicas, compression=compress,
            limit_marker_ttl=marker_ttl or 0, metadata=meta, republish=republish,
            mirror=origin, sources=list(sources),
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from None

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        await api.request(f"STREAM.CREATE.KV_{bucket}", config)
        _status_page(await (await _bucket(api, bucket)).status())

    run_with_client(ctx, body)


def _value(value: str | None) -> bytes:
    if value:
        return value.encode()
    if not sys.stdin.isatty():
        return sys.stdin.buffer.read()
    return b""


@kv.command("put")
@click.argument("bucket")
@click.argument("key")
@click.argument("value", required=False)
@connection_options()
@click.pass_context
def put(ctx: click.Context, bucket: str, key: str, value: str | None) -> None:
    """Puts a value into a key."""
    data = _value(value)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        await (await _bucket(api, bucket)).put(key, data)
        _out(value or "")

    run_with_client(ctx, body)


@kv.command("get")
@click.argument("bucket")
@click.argument("key")
@click.option("--revision", type=int, default=None, help="Gets a specific revision.")
@click.option("--raw", is_flag=True, help="Show only the value.")
@connection_options()
@click.pass_context
def get(ctx: click.Context, bucket: str, key: str, revision: int | None, raw: bool) -> None:
    """Gets a value for a key."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        handle = await _bucket(api, bucket)
        try:
            e = await handle.get(key, revision=revision)
        except KeyNotFoundError:
            raise CliError("nats: key not found") from None
        if raw:
            write_stdout(e.value or b"")
            return
        when = _when(e) or await _stored_at(api, handle, e.revision)
        _out(f"{bucket} > {key} revision: {e.revision} created @ {when}\n")
        text = _printable(e.value or b"")
        if len(text) > 120:
            text = text[:120] + f" ... ({len(text) - 120} more bytes)"
        _out(text + "\n")

    run_with_client(ctx, body)


@kv.command("create")
@click.argument("bucket")
@click.argument("key")
@click.argument("value", required=False)
@connection_options()
@click.pass_context
def create(ctx: click.Context, bucket: str, key: str, value: str | None) -> None:
    """Puts a value into a key only if the key is not set (or deleted)."""
    data = _value(value)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        try:
            await (await _bucket(api, bucket)).create(key, data)
        except KeyWrongLastSequenceError as exc:
            raise _wrong_last(exc) from None
        _out(value or "")

    run_with_client(ctx, body)


@kv.command("update")
@click.argument("bucket")
@click.argument("key")
@click.argument("value")
@click.argument("revision", type=int)
@connection_options()
@click.pass_context
def update(ctx: click.Context, bucket: str, key: str, value: str, revision: int) -> None:
    """Updates a key with a new value if the previous value matches the given revision."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        try:
            await (await _bucket(api, bucket)).update(key, value.encode(), last=revision)
        except KeyWrongLastSequenceError as exc:
            raise _wrong_last(exc) from None
        _out(value)

    run_with_client(ctx, body)


@kv.command("revert")
@click.argument("bucket")
@click.argument("key")
@click.argument("revision", type=int)
@click.option("-f", "--force", is_flag=True, help="Act without confirmation.")
@connection_options()
@click.pass_context
def revert(ctx: click.Context, bucket: str, key: str, revision: int, force: bool) -> None:
    """Makes the value of an earlier revision of a key its latest value."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        b = await _bucket(api, bucket)
        try:
            old = await b.get(key, revision=revision)
        except KeyNotFoundError:
            raise CliError(f"nats: revision {revision} of key {key} not found") from None
        confirm(f"Revert {bucket} > {key} to revision {revision}?", force)
        new = await b.put(key, old.value or b"")
        _out(f"{bucket} > {key} reverted to revision {revision}: new revision {new}")

    run_with_client(ctx, body)


@kv.command("edit")
@click.argument("bucket")
@click.argument("key")
@connection_options()
@click.pass_context
def edit(ctx: click.Context, bucket: str, key: str) -> None:
    """Edits a key's value in $EDITOR; saved only if nobody changed the key meanwhile."""
    editor = os.environ.get("EDITOR", "")
    if not editor:
        raise CliError("set EDITOR to edit a value")

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        b = await _bucket(api, bucket)
        try:
            entry = await b.get(key)
            value, last = entry.value or b"", entry.revision
        except KeyNotFoundError:
            value, last = b"", None
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "value")
            with open(path, "wb") as handle:
                handle.write(value)
            try:
                await asyncio.to_thread(click.edit, filename=path, editor=editor)
            except click.ClickException as exc:
                raise CliError(exc.format_message()) from None
            with open(path, "rb") as handle:
                edited = handle.read()
        if edited == value and last is not None:
            _out(f"{bucket} > {key} unchanged")
            return
        try:
            rev = await (b.create(key, edited) if last is None else b.update(key, edited, last))
        except KeyWrongLastSequenceError as exc:
            raise _wrong_last(exc) from None
        _out(f"{bucket} > {key} saved: revision {rev}")

    run_with_client(ctx, body)


@kv.command("del")
@click.argument("bucket")
@click.argument("key", required=False)
@click.option("-f", "--force", is_flag=True, help="Act without confirmation.")
@connection_options()
@click.pass_context
def delete(ctx: click.Context, bucket: str, key: str | None, force: bool) -> None:
    """Deletes a key or the entire bucket."""
    if key:
        confirm(f"Delete key {bucket} > {key}?", force)
    else:
        confirm(f"Deleted bucket {bucket}?", force)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        b = await _bucket(api, bucket)
        if key:
            await b.delete(key)
        else:
            await api.nc.jetstream(timeout=api.timeout).delete_key_value(bucket)

    run_with_client(ctx, body)


@kv.command("purge")
@click.argument("bucket")
@click.argument("key")
@click.option("-f", "--force", is_flag=True, help="Act without confirmation.")
@connection_options()
@click.pass_context
def purge(ctx: click.Context, bucket: str, key: str, force: bool) -> None:
    """Deletes a key from the bucket, clearing history."""
    confirm(f"Purge key {bucket} > {key}?", force)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        await (await _bucket(api, bucket)).purge(key)

    run_with_client(ctx, body)


@kv.command("history")
@click.argument("bucket")
@click.argument("key")
@connection_options()
@click.pass_context
def history(ctx: click.Context, bucket: str, key: str) -> None:
    """Shows the full history for a key."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        try:
            entries = await (await _bucket(api, bucket)).history(key)
        except (KeyNotFoundError, NoKeysError):
            raise CliError("nats: key not found") from None
        rows = [
            (key, e.revision, OPS.get(e.operation, e.operation), _when(e), len(e.value or b""),
             _printable(e.value or b""))
            for e in entries
        ]  # fmt: skip
        fmt.print_table(
            f"History for {bucket} > {key}",
            ["Key", "Revision", "Op", "Created", "Length", "Value"],
            rows,
        )

    run_with_client(ctx, body)


@kv.command("watch")
@click.argument("bucket")
@click.argument("key", default=">")
@click.option("--history", "include_history", is_flag=True, help="Include the history.")
@click.option("--deletes/--no-deletes", default=True, help="Show deletes and purges.")
@click.option("--updates", "updates_only", is_flag=True, help="Only show new updates.")
@connection_options()
@click.pass_context
def watch(ctx: click.Context, bucket: str, key: str, include_history: bool, deletes: bool,
          updates_only: bool) -> None:  # fmt: skip
    """Watch the bucket or a specific key for updates (until interrupted)."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        b = await _bucket(api, bucket)
        w = await b.watch(key, include_history=include_history, ignore_deletes=not deletes)
        initial = True
        try:
            while not stop.is_set():
                try:
                    e = await w.updates(timeout=0.5)
                except Exception:
                    continue
                if e is None:
                    initial = False
                    continue
                if updates_only and initial:
                    continue
                op = OPS.get(e.operation, e.operation)
                line = f"[{_when(e)}] {op} {bucket} > {e.key}"
                if e.operation is None:
                    line += f": {_printable(e.value or b'')}"
                _out(line)
        finally:
            await w.stop()

    run_with_client(ctx, body)


@kv.command("ls")
@click.argument("bucket", required=False)
@click.option("-n", "--names", is_flag=True, help="Show just the bucket names.")
@connection_options()
@click.pass_context
def ls(ctx: click.Context, bucket: str | None, names: bool) -> None:
    """List available buckets or the keys in a bucket."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        if bucket:
            try:
                keys = await (await _bucket(api, bucket)).keys()
            except NoKeysError:
                keys = []
            if not keys:
                _out("No keys found in bucket")
            for k in keys:
                _out(k)
            return
        infos = await api.paged("STREAM.LIST", "streams", {"subject": "$KV.*.>"})
        infos = [i for i in infos if i["config"]["name"].startswith("KV_")]
        if not infos:
            _out("No Key-Value buckets found")
            return
        if names:
            for i in infos:
                _out(i["config"]["name"][3:])
            return
        rows = [
            (i["config"]["name"][3:], i["config"].get("description", ""),
             fmt.time_text(fmt.parse_time(i.get("created"))), fmt.size(i["state"]["bytes"]),
             fmt.count(i["state"]["messages"]),
             fmt.time_text(fmt.parse_time(i["state"].get("last_ts"))))
            for i in infos
        ]  # fmt: skip
        fmt.print_table(
            "Key-Value Buckets",
            ["Bucket", "Description", "Created", "Size", "Values", "Last Update"],
            rows,
        )

    run_with_client(ctx, body)


@kv.command("info")
@click.argument("bucket")
@connection_options()
@click.pass_context
def info(ctx: click.Context, bucket: str) -> None:
    """View the status of a KV store."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        _status_page(await (await _bucket(api, bucket)).status())

    run_with_client(ctx, body)


@kv.command("compact")
@click.argument("bucket")
@click.option("-f", "--force", is_flag=True, help="Act without confirmation.")
@connection_options()
@click.pass_context
def compact(ctx: click.Context, bucket: str, force: bool) -> None:
    """Reclaim space used by deleted keys."""
    confirm(
        f"Purge all historic values and audit trails for deleted keys in bucket {bucket}?", force
    )

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        await (await _bucket(api, bucket)).purge_deletes(olderthan=-1)

    run_with_client(ctx, body)
