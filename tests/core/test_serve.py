"""``natskern serve`` as a process: default profile, flags, logs, clean stop on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import nats
import pytest

from natskern.cli.unix_transport import connect_unix
from tests.support.servers import free_port, wait_for_port


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "natskern", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_listens_logs_and_stops_cleanly(sig: int, tmp_path) -> None:
    port = free_port()
    sock = str(tmp_path / "s.sock")
    proc = _serve("--port", str(port), "--unix", sock)
    try:
        wait_for_port(port)
        nc = await nats.connect(f"nats://127.0.0.1:{port}")
        sub = await nc.subscribe("x")
        uc = await connect_unix(sock)
        await uc.publish("x", b"via unix")
        await uc.flush()
        assert (await sub.next_msg(timeout=2)).data == b"via unix"
        await uc.close()
        await nc.close()
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"Listening for tcp client connections on nats://127.0.0.1:{port}" in err
    assert f"Listening for unix client connections on unix://{sock}" in err
    assert "Server is ready" in err
    assert "Traceback" not in err
    assert not os.path.exists(sock)


def test_port_in_use_is_one_clear_line() -> None:
    port = free_port()
    first = _serve("--port", str(port))
    try:
        wait_for_port(port)
        second = _serve("--port", str(port))
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "Traceback" not in err
        assert "cannot start" in err.splitlines()[-1]
    finally:
        first.terminate()
        first.communicate(timeout=15)


def test_default_profile_port_4222() -> None:
    # Only when 4222 is free: the default profile must bind exactly there.
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 4222))
        except OSError:
            pytest.skip("port 4222 is busy on this machine")
    proc = _serve()
    try:
        wait_for_port(4222)
        time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "nats://127.0.0.1:4222" in err


def _serve_in(env_home: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "XDG_DATA_HOME": env_home}
    return subprocess.Popen(
        [sys.executable, "-m", "natskern", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def _stream_roundtrip(port: int) -> bool:
    """Whether INFO says jetstream; if so, a stream takes a message and gives it back."""
    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    try:
        if not nc._server_info.get("jetstream"):
            return False
        js = nc.jetstream()
        await js.add_stream(name="SERVE", subjects=["serve.>"])
        ack = await js.publish("serve.a", b"kept")
        assert (await js.get_msg("SERVE", ack.seq)).data == b"kept"
        return True
    finally:
        await nc.close()


async def test_the_default_profile_runs_jetstream_in_the_user_data_directory(tmp_path) -> None:
    port = free_port()
    proc = _serve_in(str(tmp_path), "--port", str(port))
    try:
        wait_for_port(port)
        assert await _stream_roundtrip(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    store = tmp_path / "natskern" / "jetstream"
    assert f"store directory {store}" in err
    assert "durable: acknowledged after fsync" in err
    assert any(store.rglob("*")), "nothing was stored under the data directory"


async def test_serve_store_dir_and_no_jetstream_flags(tmp_path) -> None:
    port = free_port()
    chosen = tmp_path / "chosen"
    proc = _serve_in(str(tmp_path / "data"), "--port", str(port), "--store-dir", str(chosen))
    try:
        wait_for_port(port)
        assert await _stream_roundtrip(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert any(chosen.rglob("*")) and not (tmp_path / "data").exists()
    port = free_port()
    proc = _serve_in(str(tmp_path / "data"), "--port", str(port), "--no-jetstream")
    try:
        wait_for_port(port)
        assert not await _stream_roundtrip(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
