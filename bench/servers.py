"""Start, probe and stop the servers under test on loopback ports.

Two kinds: ``natskern`` (``python -m natskern serve``) and ``nats-server`` (the Go reference).
Each run gets a fresh server process; its output goes to a log file in a temp dir so a
start-up failure can be shown.

Two more kinds compare natskern with itself (``run.py --reference natskern-nojs``):
``natskern-nojs`` (``serve --no-jetstream``) and ``natskern-streams`` (JetStream on, a fresh
store directory per start, and the ``BENCH_STREAMS`` defined through the ``$JS.API`` as
soon as it answers, before any measurement).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import IDLE_TIMEOUT, ProtocolError, open_conn, sub_line
from loadgen_js import FrameReader

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
#: Seconds a server may take to accept a handshake after being started.
START_TIMEOUT = 20.0
KINDS = ("natskern", "nats-server", "natskern-nojs", "natskern-streams")
#: The streams a ``natskern-streams`` server gets: subjects no core scenario publishes on
#: (those use ``bench.*``, ``svc``, ``_INBOX.bench.*`` and ``mem.*``), so the scenarios
#: measure what defined streams cost the publishes that no stream listens to.
BENCH_STREAMS: dict[str, dict[str, Any]] = {
    "ORDERS": {"subjects": ["orders.>"], "storage": "file"},
    "EVENTS": {"subjects": ["events.*"], "storage": "memory"},
    # The stream of a KV bucket "cfg", with the main settings nats-py's create_key_value uses.
    "KV_cfg": {
        "subjects": ["$KV.cfg.>"],
        "storage": "file",
        "max_msgs_per_subject": 1,
        "discard": "new",
        "allow_rollup_hdrs": True,
        "deny_delete": True,
        "allow_direct": True,
    },
}
_CREATE_INBOX = b"_INBOX.benchsetup."


class ServerStartError(Exception):
    """The server exited or never answered a handshake; the message holds its log tail."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def nats_server_path() -> str | None:
    """Return Debian's nats-server 2.9 (the core reference), or None."""
    from natskern.testing import find_nats_server

    return find_nats_server("2.9")


def _nats_server_config(mappings: dict[str, str]) -> str:
    lines = [f'  "{src}": "{dst}"' for src, dst in mappings.items()]
    return "mappings {\n" + "\n".join(lines) + "\n}\n"


def _natskern_config(mappings: dict[str, str]) -> str:
    lines = [f'"{src}" = "{dst}"' for src, dst in mappings.items()]
    return "[mappings]\n" + "\n".join(lines) + "\n"


def server_command(
    kind: str, port: int, workdir: Path, mappings: dict[str, str] | None
) -> list[str]:
    """Return the argv that starts a server of ``kind`` on ``port`` (writing its config)."""
    if kind == "nats-server":
        argv = [nats_server_path() or "nats-server", "-a", HOST, "-p", str(port)]
        if mappings:
            conf = workdir / "mapped.conf"
            conf.write_text(_nats_server_config(mappings))
            argv += ["-c", str(conf)]
        return argv
    if kind in ("natskern", "natskern-nojs", "natskern-streams"):
        argv = [sys.executable, "-m", "natskern", "serve", "--host", HOST, "--port", str(port)]
        if kind == "natskern":
            # The default profile (JetStream on), its store in the run's own directory.
            argv += ["--store-dir", str(workdir / "jetstream")]
        elif kind == "natskern-streams":
            # A store of its own: the streams are created afresh on an empty store.
            argv += ["--store-dir", tempfile.mkdtemp(prefix="streams-", dir=workdir)]
        else:
            argv += ["--no-jetstream"]
        if mappings:
            conf = workdir / "mapped.toml"
            conf.write_text(_natskern_config(mappings))
            argv += ["--config", str(conf)]
        return argv
    raise ValueError(f"unknown server kind {kind!r}")


def define_streams(host: str, port: int, streams: dict[str, dict[str, Any]]) -> None:
    """Create ``streams`` (name → config) with ``$JS.API.STREAM.CREATE`` requests.

    Raw socket, one connection, every request pipelined; raises ``ProtocolError`` if a
    reply is missing or carries an ``error``.
    """
    sock = open_conn(host, port, sub_line(_CREATE_INBOX + b"*", b"1"))
    try:
        sock.settimeout(IDLE_TIMEOUT)  # FrameReader turns a timeout into ProtocolError
        reader = FrameReader(sock)
        frames = []
        for i, (name, config) in enumerate(streams.items()):
            body = json.dumps({"name": name, **config}).encode()
            subject = b"$JS.API.STREAM.CREATE." + name.encode()
            reply = _CREATE_INBOX + b"%d" % i
            frames.append(b"PUB %s %s %d\r\n%s\r\n" % (subject, reply, len(body), body))
        sock.sendall(b"".join(frames))
        replies: dict[bytes, bytes] = {}
        while len(replies) < len(streams):
            for _op, subject, _reply, headers, body in reader.read():
                if headers[8:9] == b" ":  # a status reply, e.g. 503 no responders
                    raise ProtocolError(f"stream create: status reply {headers[:80]!r}")
                replies[subject] = body
    finally:
        sock.close()
    for i, name in enumerate(streams):
        reply = replies[_CREATE_INBOX + b"%d" % i]
        try:
            answer = json.loads(reply)
        except ValueError:
            raise ProtocolError(f"stream {name}: reply is not JSON: {reply[:200]!r}") from None
        if "error" in answer:
            raise ProtocolError(f"stream {name} not created: {answer['error']}")
        if answer.get("config", {}).get("name") != name:
            raise ProtocolError(f"stream {name}: unexpected reply {answer}")


class Server:
    """A running server process under test."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        mappings: dict[str, str] | None = None,
        argv: Callable[[int], list[str]] | None = None,
    ) -> None:
        """Start a server of ``kind`` and wait until it completes a NATS handshake.

        ``argv``, if given, builds the command line from the chosen port instead of
        ``server_command`` (the JetStream scenarios use it). Raises ``ServerStartError``
        if it exits or does not answer within START_TIMEOUT.
        """
        self.kind = kind
        self.host = HOST
        self.port = free_port()
        self.log_path = workdir / f"{kind}-{self.port}.log"
        if argv is None:
            cmd = server_command(kind, self.port, workdir, mappings)
        else:
            cmd = argv(self.port)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.pid = self._proc.pid
        try:
            self._wait_ready()
            if kind == "natskern-streams":
                self._define_streams()
        except BaseException:
            self.stop()
            raise

    def _define_streams(self) -> None:
        """Create ``BENCH_STREAMS``; a failure is a ``ServerStartError`` with the log tail."""
        try:
            define_streams(self.host, self.port, BENCH_STREAMS)
        except (OSError, ProtocolError) as exc:
            raise ServerStartError(f"{self.kind}: {exc}: {self.log_tail()}") from exc

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"{self.kind} exited with code {self._proc.returncode}: {self.log_tail()}"
                )
            try:
                open_conn(self.host, self.port, timeout=2.0).close()
                return
            except (OSError, ProtocolError) as exc:
                last = str(exc)
            time.sleep(0.05)
        raise ServerStartError(
            f"{self.kind} did not answer on {self.host}:{self.port} within {START_TIMEOUT:.0f}s "
            f"({last}): {self.log_tail()}"
        )

    def log_tail(self, lines: int = 8) -> str:
        """Return the last ``lines`` lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def rss_mib(self) -> float:
        """Return the server's resident set size (VmRSS) in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def alive(self) -> bool:
        """Return whether the server process is still running."""
        return self._proc.poll() is None

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and reap it."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5.0)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.stop()
        if exc is not None:  # a failed run: say what the server logged
            exc.add_note(f"{self.kind} log: {self.log_tail(4)}")
