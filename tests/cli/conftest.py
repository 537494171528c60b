"""Fixtures for the CLI tests: run ``natskern`` as a subprocess against real servers.

* ``server`` — a real server on a free loopback port, parametrized over the
  installed ``nats-server`` and a natskern broker (``python -m natskern.cli
  serve``); a kind that is not available is skipped.
* ``cli`` — runs the CLI with ``HOME``/``XDG_CONFIG_HOME`` in a temp dir, and
  starts background CLI processes whose log lines can be awaited.  ``cli(...)``
  runs a command to completion in this process (``natskern.cli.app.main`` with
  click's ``CliRunner`` isolation: the same environment, stdin, stdout and stderr
  a piped subprocess has, without a Python start and the imports per command);
  ``cli.process(...)`` runs it as a real ``python -m natskern.cli`` subprocess,
  and ``cli_process`` is a ``cli`` whose calls are all subprocesses (the tests
  of exit codes and error lines as a shell sees them).  Background commands
  (``spawn``) are always real processes: they get signals.
  ``NATSKERN_TESTS_CLI=process`` makes every ``cli(...)`` a subprocess again (to
  check that both ways agree).

Nothing here decides a test by timing: background processes are awaited on
the log line they print once their subscription is confirmed by the server;
the deadlines only stop a broken run from hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import pytest
from click import formatting
from click.testing import CliRunner

from tests.support.processes import server_process
from tests.support.processes import wait_for_port as wait_for_port  # (re-exported)

REPO = Path(__file__).resolve().parents[2]
NATS_SERVER = shutil.which("nats-server")
#: Safety net only: how long a broken run may hang before the test fails.
DEADLINE = 30.0
#: ``cli(...)`` runs commands in process unless NATSKERN_TESTS_CLI=process.
IN_PROCESS = os.environ.get("NATSKERN_TESTS_CLI", "") != "process"


def free_port() -> int:
    """A loopback TCP port that is free right now (this test worker's own range)."""
    from tests.support.servers import free_port as worker_port

    return worker_port()


def _natskern_available() -> str | None:
    """``None`` when a natskern broker can be started, else the reason it cannot."""
    try:
        import natskern.cli.serve
        import natskern.runner  # noqa: F401
    except Exception as exc:
        return f"natskern broker not importable: {type(exc).__name__}: {exc}"
    return None


def cli_env(home: Path) -> dict[str, str]:
    """The environment the CLI runs in: a private HOME/XDG dir, no NATS_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NATS_")}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(REPO)) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("NATSKERN_DEBUG", None)
    return env


class _Hung(BaseException):
    """Raised by the in-process runner's alarm: a command ran past the safety deadline."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hung(f"the command did not finish within {DEADLINE * 2:.0f} s")


def run_in_process(
    args: tuple[str, ...], env: dict[str, str], input: str | bytes | None
) -> subprocess.CompletedProcess:
    """``natskern <args>`` through ``natskern.cli.app.main`` in this process.

    What a piped subprocess would see: ``env`` as the whole environment, ``input`` (or
    nothing) on stdin, stdout and stderr that are not terminals, terminal width from
    ``COLUMNS`` or 80 (click's help, rich; ``CliRunner`` would force 80), the exit status
    from ``sys.exit``.  The result has a subprocess's fields.  Runs in the main thread (the
    CLI installs signal handlers); an alarm stops a command that hangs.
    """
    from natskern.cli.app import main

    full = {"COLUMNS": "80", "LINES": "24", **env}
    delta: dict[str, str | None] = {k: None for k in os.environ if k not in full}
    delta.update(full)
    runner = CliRunner()
    old_alarm = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(DEADLINE * 2))
    try:
        with runner.isolation(input=input if input is not None else "", env=delta) as (out, err, _):
            formatting.FORCED_WIDTH = None  # the isolation forces 80 columns; a pipe does not
            code: int | str | None = 0
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code
            if isinstance(code, str):  # sys.exit("message"), as the interpreter reports it
                sys.stderr.write(code + "\n")
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            stdout, stderr = out.getvalue(), err.getvalue()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)
    return subprocess.CompletedProcess(
        ["natskern", *args],
        code or 0,
        stdout.decode(errors="replace"),
        stderr.decode(errors="backslashreplace"),
    )


@contextlib.contextmanager
def _process(cmd: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    with server_process(cmd, port, env=env):
        yield


@dataclass
class Server:
    """A running server the CLI can talk to (also over ``unix_path``)."""

    kind: str
    url: str
    unix_path: str = ""


class UnixProxy:
    """Serves a Unix socket that forwards every connection to a TCP port.

    nats-server 2.9 has no Unix socket listener; this byte pipe gives the
    CLI's ``unix://`` transport a real server behind a real socket.
    """

    def __init__(self, path: str, port: int) -> None:
        self.path, self.port = path, port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_unix_server(self._handle, self.path))
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> UnixProxy:
        self.thread.start()
        self.ready.wait(DEADLINE)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(DEADLINE)


@contextlib.contextmanager
def start_server(kind: str, home: Path, args: tuple[str, ...] = ()) -> Iterator[Server]:
    """Start ``nats-server`` or a natskern broker on a free port (``args``: nats-server's)."""
    port = free_port()
    if kind == "nats-server":
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        cmd = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), *args]
        with _process(cmd, port), UnixProxy(str(home / "proxy.sock"), port) as proxy:
            yield Server(kind, f"nats://127.0.0.1:{port}", proxy.path)
        return
    reason = _natskern_available()
    if reason:
        pytest.skip(reason)
    sock = str(home / "natskern.sock")
    cmd = [sys.executable, "-m", "natskern.cli", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--unix", sock]  # fmt: skip
    with _process(cmd, port, cli_env(home)):
        yield Server(kind, f"nats://127.0.0.1:{port}", sock)


@pytest.fixture(scope="module", params=["nats-server", "natskern"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real server for the module's tests, once per available server kind."""
    with start_server(request.param, tmp_path_factory.mktemp("server")) as srv:
        yield srv


@pytest.fixture(scope="module")
def gnatsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A plain nats-server (for tests about the CLI alone, not about the server)."""
    with start_server("nats-server", tmp_path_factory.mktemp("gnatsd")) as srv:
        yield srv


@dataclass
class Background:
    """A CLI process running in the background, its stderr read line by line."""

    proc: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)
    out_lines: queue.Queue = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def wait_for(self, text: str, *, stdout: bool = False) -> str:
        """Block until a stderr (or stdout) line containing ``text`` arrives; return it."""
        source = self.out_lines if stdout else self.lines
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                line = source.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line {text!r}; stderr so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"process exited before {text!r}; stderr: {self.seen}")
            if not stdout:
                self.seen.append(line)
            if text in line:
                return line

    def interrupt(self) -> None:
        """Send SIGINT, like Ctrl-C."""
        self.proc.send_signal(signal.SIGINT)

    def finish(self) -> tuple[int, str, str]:
        """Wait for exit; return (returncode, stdout, all stderr)."""
        code = self.proc.wait(DEADLINE)
        for thread in self.threads:
            thread.join(DEADLINE)
        out = "".join(self.stdout)
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:  # pragma: no cover - reader thread hung
                break
            if line is None:
                break
            self.seen.append(line)
        return code, out, "".join(self.seen)


class Cli:
    """Runs the natskern CLI with a private HOME: in process, or ``python -m natskern.cli``."""

    def __init__(self, home: Path, *, in_process: bool = IN_PROCESS) -> None:
        self.home = home
        self.env = cli_env(home)
        self.in_process = in_process
        self.running: list[Background] = []

    @property
    def context_dir(self) -> Path:
        """Where natscli-format context files live for this CLI."""
        return self.home / ".config" / "nats" / "context"

    def __call__(
        self, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run the CLI to completion; stdin is empty unless ``input`` is given."""
        if self.in_process:
            return run_in_process(args, {**self.env, **(env or {})}, input)
        return self.process(*args, input=input, env=env)

    def process(
        self, *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``python -m natskern.cli`` to completion as a real subprocess."""
        if isinstance(input, bytes):
            input = input.decode()
        return subprocess.run(
            [sys.executable, "-m", "natskern.cli", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=DEADLINE * 2,
        )

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> Background:
        """Start the CLI in the background with stdout and stderr piped."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "natskern.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.env, **(env or {})},
        )
        bg = Background(proc)

        def pump_err() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                bg.lines.put(line)
            bg.lines.put(None)

        def pump_out() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                bg.stdout.append(line)
                bg.out_lines.put(line)
            bg.out_lines.put(None)

        for target in (pump_err, pump_out):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            bg.threads.append(thread)
        self.running.append(bg)
        return bg

    def close(self) -> None:
        """Kill whatever is still running."""
        for bg in self.running:
            if bg.proc.poll() is None:
                bg.proc.kill()
                bg.proc.wait()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A CLI runner with HOME and XDG_CONFIG_HOME in a fresh temp dir (commands in process)."""
    runner = Cli(tmp_path)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def cli_process(tmp_path: Path) -> Iterator[Cli]:
    """As ``cli``, but every command is a real ``python -m natskern.cli`` subprocess."""
    runner = Cli(tmp_path, in_process=False)
    try:
        yield runner
    finally:
        runner.close()


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    """Assert the run failed with exactly one stderr line and no traceback; return it."""
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("natskern: error: "), lines[0]
    return lines[0]


@pytest.fixture
def error_line():
    """``error_line(result)``: assert one ``natskern: error:`` line, non-zero exit; return it."""
    return _one_error_line


@pytest.fixture
def make_server():
    """``make_server(kind, home, args)``: start an extra server (e.g. nats-server -c conf)."""
    return start_server


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def require_natskern() -> None:
    """Skip unless a natskern broker can be started."""
    reason = _natskern_available()
    if reason:
        pytest.skip(reason)
