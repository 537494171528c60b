"""``natskern-server`` as a program: help, version, ``-t``, bad command lines, signals, running."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest
from natskern.kernel import const
from natskern.kernel.server import free_port

from natskern.natsconf.main import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["-v"], ["--version"], ["version"], ["-D", "VERSION"]):
        assert run(argv, capsys) == (0, f"natskern-server: v{const.ADVERTISED_VERSION}\n", "")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["-h"], ["--help"], ["help"]):
        code, out, err = run(argv, capsys)
        assert code == 0 and err == ""
        assert "Usage: natskern-server [options]" in out
        assert "-js, --jetstream" in out
    code, out, _ = run(["--help_tls"], capsys)
    assert code == 0 and "cert_file" in out


def test_bad_flag_prints_gos_error_and_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--bogus"], capsys)
    assert code == 2
    assert err == "flag provided but not defined: -bogus\n"
    assert "Usage: natskern-server [options]" in out


def test_unrecognized_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-p", "1", "2"], capsys) == (1, "", 'natskern-server: unrecognized command: "2"\n')


def test_check_needs_a_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["-t"], capsys)
    assert code == 1
    assert err == (
        "natskern-server: must specify [-c, --config] option to check configuration file syntax\n"
    )


def test_check_valid_and_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.conf"
    good.write_text('port: 4333\nmax_payload: 2MB\nauthorization { token: "t" }\n')
    assert run(["-t", "-c", str(good)], capsys) == (
        0,
        "",
        f"natskern-server: configuration file {good} is valid\n",
    )
    bad = tmp_path / "bad.conf"
    bad.write_text("port: 4333\nfoo: 1\nmax_payload: abc\n")
    code, out, err = run(["-c", str(bad), "-t"], capsys)
    assert (code, out) == (1, "")
    assert err == (
        f'natskern-server: {bad}:2: unknown key "foo"\n'
        f'{bad}:3: key "max_payload": expected a size, got "abc"\n'
    )
    syntax = tmp_path / "syntax.conf"
    syntax.write_text("a: [1 2]\n")
    code, _, err = run(["-t", "--config", str(syntax)], capsys)
    assert code == 1 and err.startswith(f"natskern-server: {syntax}:1:")


def test_check_fails_on_warnings_like_nats_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warn.conf"
    path.write_text("ping_interval: 2m\n")
    code, _, err = run(["-t", "-c", str(path)], capsys)
    assert code == 1
    assert "should be converted to a duration" in err


def test_check_applies_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "f.conf"
    path.write_text("port: 4333\n")
    code, _, err = run(["-t", "-c", str(path), "--routes", "nats://a:1"], capsys)
    assert code == 1 and "solicited routes require cluster capabilities" in err
    code, _, err = run(["-t", "-c", str(tmp_path / "missing.conf")], capsys)
    assert code == 1 and "cannot read config file" in err


def test_signal_to_a_pid_and_a_pid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in ("pid", "pidfile"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            spec = str(child.pid)
            if target == "pidfile":
                pid_file = tmp_path / "x.pid"
                pid_file.write_text(f"{child.pid}\n")
                spec = str(pid_file)
            assert run(["--signal", f"term={spec}"], capsys) == (0, "", "")
            assert child.wait(timeout=30) == -signal.SIGTERM
        finally:
            child.kill()
            child.wait()
    code, _, err = run(["-sl", "bogus=1"], capsys)
    assert code == 1 and 'unknown signal "bogus"' in err
    code, _, err = run(["-sl", "quit=notapid"], capsys)
    assert code == 1 and "invalid pid: notapid" in err


async def wait_for_info(port: int, proc: asyncio.subprocess.Process) -> bool:
    """Wait (bounded) until the server sends INFO; False if it exited first."""
    for _ in range(400):
        if proc.returncode is not None:
            return False
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.025)
            continue
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
        finally:
            writer.close()
        return line.startswith(b"INFO ")
    return False


async def test_runs_a_broker_with_the_translated_config(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "server.conf"
    conf.write_text('TOKEN: "s3cr3t"\nauthorization { token: $TOKEN }\nmax_payload: 64KB\n')
    log = tmp_path / "server.log"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "natskern.natsconf.main",
            "-c", str(conf), "-a", "127.0.0.1", "-p", str(port),
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    url = f"nats://127.0.0.1:{port}"
    try:
        assert await wait_for_info(port, proc), log.read_text()
        nc = await nats.connect(url, token="s3cr3t", allow_reconnect=False)
        assert nc.max_payload == 64 * 1024
        sub = await nc.subscribe("greet")
        await nc.publish("greet", b"hello")
        msg = await sub.next_msg(timeout=5)
        assert msg.data == b"hello"
        await nc.close()
        with pytest.raises(Exception, match=r"(?i)authorization"):
            await nats.connect(url, token="wrong", allow_reconnect=False, max_reconnect_attempts=0)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), timeout=30)
    assert code == 0, log.read_text()
    assert f"Using configuration file: {conf}" in log.read_text()
