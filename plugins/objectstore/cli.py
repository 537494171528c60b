"""``natskern object ...`` (alias ``obj``): natscli's object-store commands over nats-py."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import sys
import time
from typing import Any

import click
from nats.js.api import ObjectMeta, ObjectMetaOptions, ObjectStoreConfig, StorageType
from nats.js.errors import NotFoundError, ObjectNotFoundError
from natskern.plugins.jetstream.cli import format as fmt
from natskern.plugins.jetstream.cli.common import JsApi, confirm, run_with_client
from natskern.plugins.objectstore.progress import CountedFile, progress_wanted, transfer_progress

from natskern.cli.groups import AliasGroup
from natskern.cli.options import connection_options
from natskern.cli.output import write_stdout
from natskern.cli.params import DURATION, SIZE
from natskern.cli.runtime import CliError

__all__ = ["obj"]


def _out(text: str) -> None:
    write_stdout((text + "\n").encode())


async def _store(api: JsApi, name: str) -> Any:
    try:
        return await api.nc.jetstream(timeout=max(api.timeout, 30)).object_store(name)
    except NotFoundError:
        raise CliError(f"nats: stream not found: {name}") from None


def _mtime(i: Any) -> str:
    """An object's modification time as the other tables show times (local, to the second)."""
    return fmt.time_text(fmt.parse_time(i.mtime)) or str(i.mtime or "")


def _digest(digest: str | None) -> str:
    """``SHA-256=<base64url>`` as natscli shows it: ``SHA-256 <hex>``."""
    algo, sep, value = (digest or "").partition("=")
    if not sep:
        return digest or ""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return digest or ""
    return f"{algo} {raw.hex()}"


def _info_page(i: Any) -> None:
    page = fmt.Page(f"Object information for {i.bucket} > {i.name}")
    rows = page.section()
    rows += [
        ("Size", fmt.size(i.size or 0)),
        ("Modification Time", _mtime(i)),
        ("Chunks", fmt.count(i.chunks or 0)),
        ("Digest", _digest(i.digest)),
    ]
    if i.description:
        rows.insert(0, ("Description", i.description))
    if i.deleted:
        rows.append(("Deleted", "true"))
    page.print()


def _status_page(st: Any) -> None:
    cfg = st.stream_info.config
    page = fmt.Page(f"{st.bucket} Object Store Status")
    rows = page.section()
    rows += [
        ("Bucket Name", st.bucket),
        ("Description", st.description or ""),
        ("Replicas", str(st.replicas or 1)),
        ("TTL", fmt.duration(cfg.max_age) if cfg.max_age else "unlimited"),
        ("Sealed", fmt.yes_no(st.sealed)),
        ("Size", fmt.size(st.size)),
        ("Maximum Bucket Size", fmt.limit(cfg.max_bytes, as_size=True)),
        ("Backing Store Kind", "JetStream"),
        ("JetStream Stream", cfg.name),
    ]
    page.print()


@click.group(
    "object", cls=AliasGroup, aliases={"rm": "del", "show": "info", "i": "info", "list": "ls"}
)
def obj() -> None:
    """Interacts with a JetStream based Object store."""


@obj.command("add")
@click.argument("bucket")
@click.option("--ttl", type=DURATION, default=None, help="How long objects are kept.")
@click.option("--storage", type=click.Choice(["file", "memory"]), default="file")
@click.option("--max-bucket-size", type=SIZE, default=-1, help="Largest bucket allowed.")
@click.option("--description", default=None)
@click.option("--replicas", type=int, default=1)
@connection_options()
@click.pass_context
def add(ctx: click.Context, bucket: str, ttl: float | None, storage: str, max_bucket_size: int,
        description: str | None, replicas: int) -> None:  # fmt: skip
    """Adds a new Object Store Bucket."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        js = api.nc.jetstream(timeout=api.timeout)
        config = ObjectStoreConfig(
            bucket=bucket, description=description, ttl=ttl if ttl and ttl > 0 else None,
            max_bytes=max_bucket_size, storage=StorageType(storage), replicas=replicas,
        )  # fmt: skip
        store = await js.create_object_store(bucket, config)
        _status_page(await store.status())

    run_with_client(ctx, body)


@obj.command("put")
@click.argument("bucket")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--name", default=None, help="Object name (required when reading stdin).")
@click.option("--description", default=None)
@click.option("--chunk-size", type=SIZE, default=128 * 1024)
@click.option("-f", "--force", is_flag=True, help="Replace an existing object.")
@click.option("--no-progress", is_flag=True, help="Do not show a progress bar.")
@connection_options()
@click.pass_context
def put(ctx: click.Context, bucket: str, file: str | None, name: str | None,
        description: str | None, chunk_size: int, force: bool,
        no_progress: bool) -> None:  # fmt: skip
    """Puts a file (or stdin) into the store."""
    if file is None and not name:
        raise CliError("--name is required when reading from stdin")
    obj_name = name or os.path.basename(file or "")

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        store = await _store(api, bucket)
        try:
            await store.get_info(obj_name)
        except (ObjectNotFoundError, NotFoundError):
            pass
        else:
            confirm(f"Replace existing file {bucket} > {obj_name}?", force)
        meta = ObjectMeta(
            name=obj_name,
            description=description,
            options=ObjectMetaOptions(max_chunk_size=chunk_size),
        )
        if file is None:
            info = await store.put(obj_name, sys.stdin.buffer, meta=meta)
        else:
            total = os.path.getsize(file)
            wanted = progress_wanted(no_progress)
            with (
                open(file, "rb") as handle,
                transfer_progress(f"Putting {obj_name}", total, enabled=wanted) as advance,
            ):
                info = await store.put(obj_name, CountedFile(handle, advance), meta=meta)
        _info_page(info)

    run_with_client(ctx, body)


@obj.command("get")
@click.argument("bucket")
@click.argument("name")
@click.option("-O", "--output", default=None, help="Where to write the object.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--no-progress", is_flag=True, help="Do not show a progress bar.")
@connection_options()
@click.pass_context
def get(ctx: click.Context, bucket: str, name: str, output: str | None, force: bool,
        no_progress: bool) -> None:  # fmt: skip
    """Retrieves an object into a file (the object's base name in the current directory)."""
    target = os.path.abspath(output or os.path.basename(name))
    if os.path.exists(target):
        confirm(f"Replace existing target file {target}?", force)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        store = await _store(api, bucket)
        start = time.monotonic()
        try:
            size = (await store.get_info(name)).size
        except (ObjectNotFoundError, NotFoundError):
            raise CliError("nats: object not found") from None
        wanted = progress_wanted(no_progress)
        try:
            with (
                open(target, "wb") as handle,
                transfer_progress(f"Getting {name}", size, enabled=wanted) as advance,
            ):
                result = await store.get(name, writeinto=CountedFile(handle, advance))
        except (ObjectNotFoundError, NotFoundError):
            os.unlink(target)
            raise CliError("nats: object not found") from None
        took = time.monotonic() - start
        line = f"Wrote: {fmt.size(result.info.size)} to {target} in {fmt.duration(took)}"
        if took > 2:
            line += f" average {fmt.size(result.info.size / took)}/s"
        _out(line)

    run_with_client(ctx, body)


@obj.command("ls")
@click.argument("bucket", required=False)
@click.option("-n", "--names", is_flag=True, help="Show just the bucket names.")
@connection_options()
@click.pass_context
def ls(ctx: click.Context, bucket: str | None, names: bool) -> None:
    """List buckets or the contents of a bucket."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        if bucket:
            store = await _store(api, bucket)
            try:
                infos = await store.list(ignore_deletes=True)
            except NotFoundError:
                infos = []
            if not infos:
                _out("No entries found")
                return
            rows = [(i.name, fmt.size(i.size or 0), _mtime(i)) for i in infos]
            fmt.print_table("Bucket Contents", ["Name", "Size", "Time"], rows)
            return
        infos = await api.paged("STREAM.LIST", "streams", {"subject": "$O.*.C.>"})
        infos = [i for i in infos if i["config"]["name"].startswith("OBJ_")]
        if not infos:
            _out("No Object Store buckets found")
            return
        if names:
            for i in infos:
                _out(i["config"]["name"][4:])
            return
        table = [
            (i["config"]["name"][4:], i["config"].get("description", ""),
             fmt.time_text(fmt.parse_time(i.get("created"))), fmt.size(i["state"]["bytes"]),
             fmt.time_text(fmt.parse_time(i["state"].get("last_ts"))))
            for i in infos
        ]  # fmt: skip
        fmt.print_table(
            "Object Store Buckets",
            ["Bucket", "Description", "Created", "Size", "Last Update"],
            table,
        )

    run_with_client(ctx, body)


@obj.command("info")
@click.argument("bucket")
@click.argument("name", required=False)
@connection_options()
@click.pass_context
def info(ctx: click.Context, bucket: str, name: str | None) -> None:
    """Show the status of a bucket or the information of an object."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        store = await _store(api, bucket)
        if not name:
            _status_page(await store.status())
            return
        try:
            _info_page(await store.get_info(name))
        except (ObjectNotFoundError, NotFoundError):
            raise CliError("nats: object not found") from None

    run_with_client(ctx, body)


@obj.command("del")
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("-f", "--force", is_flag=True, help="Act without confirmation.")
@connection_options()
@click.pass_context
def delete(ctx: click.Context, bucket: str, name: str | None, force: bool) -> None:
    """Deletes an object or the whole bucket."""
    confirm(f"Delete {bucket} > {name}?" if name else f"Delete bucket {bucket}?", force)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        store = await _store(api, bucket)
        if name:
            try:
                await store.delete(name)
            except (ObjectNotFoundError, NotFoundError):
                raise CliError("nats: object not found") from None
            _out(f"Removed {bucket} > {name}")
        else:
            await api.nc.jetstream(timeout=api.timeout).delete_object_store(bucket)

    run_with_client(ctx, body)


@obj.command("watch")
@click.argument("bucket")
@connection_options()
@click.pass_context
def watch(ctx: click.Context, bucket: str) -> None:
    """Watch a bucket for changes (until interrupted)."""

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        store = await _store(api, bucket)
        w = await store.watch(updates_only=True)
        try:
            while not stop.is_set():
                try:
                    i = await w.updates(timeout=0.5)
                except Exception:
                    continue
                if i is None:
                    continue
                now = fmt.time_text(None) or time.strftime("%Y-%m-%d %H:%M:%S")
                if i.deleted:
                    _out(f"[{now}] DEL {bucket} > {i.name}")
                else:
                    size = fmt.size(i.size or 0)
                    _out(f"[{now}] PUT {bucket} > {i.name}: {size} bytes in {i.chunks} chunks")
        finally:
            await w.stop()

    run_with_client(ctx, body)


@obj.command("seal")
@click.argument("bucket")
@click.option("-f", "--force", is_flag=True, help="Act without confirmation.")
@connection_options()
@click.pass_context
def seal(ctx: click.Context, bucket: str, force: bool) -> None:
    """Seals a bucket preventing further updates."""
    confirm(f"Really seal Bucket {bucket}, sealed buckets can not be unsealed or modified?", force)

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        await (await _store(api, bucket)).seal()
        _out(f"{bucket} has been sealed")

    run_with_client(ctx, body)
