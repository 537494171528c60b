"""``natskern stream backup`` / ``restore`` round trips against nats-server 2.15.1 and natskern.

The CLI is a client: each server restores the archive it produced, in natscli's
directory layout (``backup.json`` and ``stream.tar.s2``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from tests.cli.js_support import KINDS, js_server, publish


@pytest.fixture(scope="module", params=KINDS)
def js_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with js_server(request.param, tmp_path_factory.mktemp("js")) as url:
        yield url


def ok(cli, url: str, *args: str) -> str:
    result = cli(*args, "-s", url)
    assert result.returncode == 0, result.stderr
    return result.stdout


def consumer_state(url: str) -> tuple[int, int, int]:
    """Consumer D of BK: delivered stream seq, ack floor stream seq, pending acks."""

    async def main() -> tuple[int, int, int]:
        nc = await nats.connect(url)
        try:
            msg = await nc.request("$JS.API.CONSUMER.INFO.BK.D", b"", timeout=5)
            info = json.loads(msg.data)
            return (
                info["delivered"]["stream_seq"],
                info["ack_floor"]["stream_seq"],
                info["num_ack_pending"],
            )
        finally:
            await nc.close()

    return asyncio.run(main())


def make_consumer(url: str) -> None:
    """Durable D on BK with two messages delivered and one acknowledged."""

    async def main() -> None:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe("bk.>", durable="D", stream="BK")
            msgs = await sub.fetch(2)
            await msgs[0].ack_sync()
        finally:
            await nc.close()

    asyncio.run(main())


def test_backup_rm_restore_round_trip(cli, js_url: str, tmp_path: Path) -> None:
    cli("stream", "rm", "BK", "-f", "-s", js_url)
    ok(cli, js_url, "stream", "add", "BK", "--subjects", "bk.>", "--defaults")
    publish(js_url, "bk.a", [b"one", b"two", b"three"], headers={"H": "1"})
    make_consumer(js_url)
    target = tmp_path / "backup"
    out = ok(cli, js_url, "stream", "backup", "BK", str(target), "--chunk-size", "1KiB")
    assert out.startswith('Starting backup of Stream "BK" with ')
    assert 'chunks for stream "BK" in ' in out
    meta = json.loads((target / "backup.json").read_text())
    assert meta["config"]["name"] == "BK" and meta["state"]["messages"] == 3
    assert (target / "stream.tar.s2").stat().st_size > 0
    again = cli("stream", "restore", str(target), "-s", js_url)
    assert again.returncode == 1
    assert again.stderr == 'natskern: error: Stream "BK" already exist\n'
    ok(cli, js_url, "stream", "rm", "BK", "-f")
    out = ok(cli, js_url, "stream", "restore", str(target))
    assert out.startswith(f'Starting restore of Stream "BK" from file "{target}"\n')
    assert 'Restored stream "BK" in ' in out
    assert "Information for Stream BK created " in out and "Messages: 3" in out
    got = json.loads(ok(cli, js_url, "stream", "get", "BK", "2", "--json"))
    assert got["subject"] == "bk.a" and got["seq"] == 2
    assert consumer_state(js_url) == (2, 1, 1)
    ok(cli, js_url, "stream", "rm", "BK", "-f")


def test_backup_without_consumers_and_a_renamed_config(cli, js_url: str, tmp_path: Path) -> None:
    cli("stream", "rm", "BK", "-f", "-s", js_url)
    ok(cli, js_url, "stream", "add", "BK", "--subjects", "bk.>", "--defaults")
    publish(js_url, "bk.b", [b"x"])
    make_consumer(js_url)
    target = tmp_path / "nocons"
    ok(cli, js_url, "stream", "snapshot", "BK", str(target), "--no-consumers")
    other = tmp_path / "other.json"
    config = json.loads((target / "backup.json").read_text())["config"]
    other.write_text(json.dumps({**config, "name": "OTHER"}))
    refused = cli("stream", "restore", str(target), "--config", str(other), "-s", js_url)
    assert refused.returncode == 1
    assert refused.stderr == "natskern: error: stream names may not be changed during restore\n"
    ok(cli, js_url, "stream", "rm", "BK", "-f")
    ok(cli, js_url, "stream", "restore", str(target))
    info = json.loads(ok(cli, js_url, "stream", "info", "BK", "--json"))
    assert info["state"]["messages"] == 1 and info["state"]["consumer_count"] == 0
    ok(cli, js_url, "stream", "rm", "BK", "-f")


def test_backup_of_a_missing_stream_fails(cli, js_url: str, tmp_path: Path) -> None:
    result = cli("stream", "backup", "NOPE", str(tmp_path / "x"), "-s", js_url)
    assert result.returncode == 1
    assert result.stderr == "natskern: error: stream not found (10059)\n"
