"""``natskern stream backup`` / ``natskern stream restore``: natscli's snapshot commands.

The directory layout is natscli's (jsm.go's ``SnapshotToDirectory``): ``backup.json``
holds ``{"config", "state"}`` of the snapshot response, ``stream.tar.s2`` the archive
bytes exactly as the server streamed them (nats-server's s2 tar, or natskern's gzip
tar: the file keeps natscli's name either way), so ``nats stream restore`` and
``natskern stream restore`` read each other's backups of the same server kind.

The transfer is nats-server's snapshot protocol driven through nats-py: backup acks
every chunk that carries a reply subject and stops at the empty final message (a
non-204 status is the error); restore sends 64 KiB requests to the subject the
restore response names, then an empty one, and waits for the ``stream_create_response``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import click
import nats.errors
from natskern.plugins.jetstream.cli import format as fmt
from natskern.plugins.jetstream.cli.common import JsApi
from natskern.plugins.jetstream.cli.common import run_with_client as _run
from natskern.plugins.jetstream.cli.streamconfig import stream_page

from natskern.cli.options import connection_options
from natskern.cli.output import write_stdout
from natskern.cli.runtime import CliError
from natskern.cli.units import format_duration, parse_size

__all__ = ["backup_command", "restore_command"]

DATA_FILE = "stream.tar.s2"
META_FILE = "backup.json"
RESTORE_CHUNK = 64 * 1024
#: Give up a backup when no chunk came for this long (natscli: 5 s or --timeout).
IDLE_TIMEOUT = 5.0


def _say(line: str) -> None:
    """A line and a blank line on stdout (natscli's spacing)."""
    write_stdout((line + "\n\n").encode())


def _size_option(value: str | None, flag: str) -> int:
    if not value:
        return 0
    try:
        return parse_size(value)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=flag) from None


async def _backup(
    api: JsApi, stream: str, target: Path, *, consumers: bool, check: bool, chunk: int, window: int
) -> tuple[int, int, float]:
    """Snapshot ``stream`` into ``target``; (bytes, chunks, seconds)."""
    nc = api.nc
    inbox = nc.new_inbox()
    target.mkdir(parents=True, exist_ok=True)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    activity = asyncio.Event()
    received = [0, 0]
    data = open(target / DATA_FILE, "wb")  # noqa: SIM115  (closed below)

    async def on_chunk(msg: Any) -> None:
        if done.done():
            return
        activity.set()
        if not msg.data:
            status = (msg.headers or {}).get("Status", "")
            if status and "204" not in status:
                text = (msg.headers or {}).get("Description", "")
                done.set_exception(CliError(f"snapshot failed: {status} {text}".rstrip()))
            else:
                done.set_result(None)
            return
        if msg.reply:
            await nc.publish(msg.reply, b"")
        data.write(msg.data)
        received[0] += len(msg.data)
        received[1] += 1

    start = time.monotonic()
    sub = await nc.subscribe(inbox, cb=on_chunk, pending_msgs_limit=-1, pending_bytes_limit=-1)
    try:
        request: dict[str, Any] = {"deliver_subject": inbox, "no_consumers": not consumers}
        request["chunk_size"] = chunk or 128 * 1024
        if window:
            request["window_size"] = window
        if check:
            request["jsck"] = True
        resp = await api.request(f"STREAM.SNAPSHOT.{stream}", request)
        _say(f'Starting backup of Stream "{stream}" with {fmt.size(resp["state"]["bytes"])}\n')
        while not done.done():
            activity.clear()
            waiter = asyncio.ensure_future(activity.wait())
            finished, _ = await asyncio.wait({waiter, done}, timeout=IDLE_TIMEOUT)
            waiter.cancel()
            if not finished:
                raise CliError("backup timed out after receiving no data for a long period")
        done.result()
    finally:
        await sub.unsubscribe()
        data.close()
    meta = {"config": resp["config"], "state": resp["state"]}
    (target / META_FILE).write_text(json.dumps(meta, indent=2))
    return received[0], received[1], time.monotonic() - start


@click.command("backup")
@click.argument("stream")
@click.argument("target")
@click.option("--progress/--no-progress", default=True, help="Progress reporting (accepted).")
@click.option("--check", is_flag=True, help="Checks the stream for health prior to backup.")
@click.option("--consumers/--no-consumers", default=True, help="Include the consumers.")
@click.option("--chunk-size", help="The chunk size the server sends (e.g. 128KiB).")
@click.option("--window-size", help="The flow-control window of the server (e.g. 8MiB).")
@connection_options()
@click.pass_context
def backup_command(
    ctx: click.Context,
    stream: str,
    target: str,
    progress: bool,
    check: bool,
    consumers: bool,
    chunk_size: str | None,
    window_size: str | None,
) -> None:
    """Creates a backup of STREAM over the NATS network into directory TARGET."""
    chunk = _size_option(chunk_size, "--chunk-size")
    window = _size_option(window_size, "--window-size")

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        size, chunks, secs = await _backup(
            api, stream, Path(target), consumers=consumers, check=check, chunk=chunk, window=window
        )
        _say(
            f"Received {fmt.size(size)} compressed data in {fmt.count(chunks)} chunks for "
            f'stream "{stream}" in {format_duration(round(secs, 3))}'
        )

    _run(ctx, body)


async def _restore(api: JsApi, name: str, request: dict[str, Any], data_path: Path) -> None:
    nc = api.nc
    first = await api.request(f"STREAM.RESTORE.{name}", request)
    subject = first["deliver_subject"]
    try:
        with open(data_path, "rb") as f:
            while chunk := f.read(RESTORE_CHUNK):
                ack = await nc.request(subject, chunk, timeout=api.timeout)
                _check_error(ack.data)
        final = await nc.request(subject, b"", timeout=3600)
    except (TimeoutError, nats.errors.TimeoutError):
        raise CliError("restore failed: timeout waiting for the server") from None
    except nats.errors.NoRespondersError:
        raise CliError("restore failed: the server stopped the restore") from None
    answer = _check_error(final.data)
    if answer.get("type") != "io.nats.jetstream.api.v1.stream_create_response":
        raise CliError(f"restore failed: unexpected final response {answer.get('type')!r}")


def _check_error(data: bytes) -> dict[str, Any]:
    if not data:
        return {}
    try:
        answer = json.loads(data)
    except ValueError:
        raise CliError("restore failed: invalid answer from the server") from None
    error = answer.get("error") if isinstance(answer, dict) else None
    if error:
        code = error.get("err_code")
        text = error.get("description") or "unknown error"
        raise CliError(f"restore failed: {text} ({code})" if code else f"restore failed: {text}")
    return answer  # type: ignore[no-any-return]


@click.command("restore")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--progress/--no-progress", default=True, help="Progress reporting (accepted).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Load a different configuration when restoring the stream.",
)
@click.option("--cluster", help="Place the stream in a specific cluster.")
@click.option("--tag", "tags", multiple=True, help="Place the stream on servers with these tags.")
@click.option("--replicas", type=int, default=0, help="Override the number of replicas.")
@connection_options()
@click.pass_context
def restore_command(
    ctx: click.Context,
    directory: str,
    progress: bool,
    config_file: str | None,
    cluster: str | None,
    tags: tuple[str, ...],
    replicas: int,
) -> None:
    """Restore a stream over the NATS network from the backup in DIRECTORY."""
    folder = Path(directory)
    try:
        meta = json.loads((folder / META_FILE).read_text())
        config = dict(meta["config"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CliError(f"restore failed: {err}") from None
    name = config.get("name", "")
    if config_file:
        try:
            new = json.loads(Path(config_file).read_text())
        except (OSError, ValueError) as err:
            raise CliError(f"restore failed: {err}") from None
        if new.get("name") != name:
            raise CliError("stream names may not be changed during restore")
        config = new
    if cluster or tags:
        config["placement"] = {k: v for k, v in (("cluster", cluster), ("tags", list(tags))) if v}
    if replicas > 0:
        config["num_replicas"] = replicas
    data_path = folder / DATA_FILE
    if not os.path.isfile(data_path):
        raise CliError(f"restore failed: {data_path} does not exist")

    async def body(api: JsApi, stop: asyncio.Event) -> None:
        names = await api.request("STREAM.NAMES", {"subject": ""})
        if name in (names.get("streams") or []):
            raise CliError(f'Stream "{name}" already exist')
        _say(f'Starting restore of Stream "{name}" from file "{directory}"\n')
        start = time.monotonic()
        await _restore(api, name, {"config": config, "state": meta.get("state", {})}, data_path)
        secs = round(time.monotonic() - start)
        _say(f'Restored stream "{name}" in {format_duration(secs)}\n')
        stream_page(await api.request(f"STREAM.INFO.{name}")).print()

    _run(ctx, body)
