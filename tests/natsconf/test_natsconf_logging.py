"""Issue 14 item 10: natskern-server's -D/-V logging as nats-server 2.9 logs, syslog flags.

The server runs as a subprocess logging to a file (``-l``); the test's own
connections end with a PING answered by PONG, so everything before it has been
processed (and traced) when the server is stopped and its log read.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from natskern.kernel.core.trace import Tracer, go_quote, redact_connect
from natskern.kernel.errors import ConfigError

from natskern import runner
from natskern.natsconf.flags import parse_flags
from natskern.natsconf.main import load
from tests.natsconf.test_natsconf_main import free_port

CONF = (
    'authorization { users = [ { user: "a", password: "b", permissions: {'
    ' subscribe: { deny: "x.>" }, publish: { deny: "y.>" } } } ] }\n'
)


def _until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _session(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        _until(sock, b"\r\n")
        sock.sendall(
            b'CONNECT {"user":"a","pass":"b","verbose":false,"name":"me","lang":"py"}\r\n'
            b"SUB x.1 1\r\nPUB y.1 3\r\nabc\r\nSUB ok 2\r\nPUB ok 12\r\n0123456789ab\r\nPING\r\n"
        )
        _until(sock, b"PONG\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        _until(sock, b"\r\n")
        sock.sendall(b'CONNECT {"user":"a","pass":"bad"}\r\nPING\r\n')
        assert b"Authorization Violation" in _until(sock, b"Violation'\r\n")


def _run_server(tmp_path: Path, *flags: str) -> str:
    conf = tmp_path / "server.conf"
    conf.write_text(CONF)
    logfile = tmp_path / "server.log"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "natskern.natsconf.main", "-c", str(conf), "-a", "127.0.0.1",
         "-p", str(port), "-l", str(logfile), *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(2000):  # bounded wait for the listener (not a timing decision)
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read() if proc.stderr else "exited")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        _session(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return logfile.read_text()


def test_debug_and_trace_log_like_nats_server(tmp_path: Path) -> None:
    text = _run_server(tmp_path, "-DV")
    assert re.search(r"\[DBG\] 127\.0\.0\.1:\d+ - cid:\d+ - Client connection created", text)
    assert '- "py:me" - Client connection closed: Client Closed' in text
    assert re.search(r"- cid:\d+ - Client connection closed: Authentication Failure", text)
    assert re.search(r'\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error - User "a"', text)
    assert '"py:me" - Subscription Violation - User "a", Subject "x.1", SID 1' in text
    assert '"py:me" - Publish Violation - User "a", Subject "y.1"' in text
    # Trace lines, nats-server's <<-/->> form; the password redacted.
    assert "[TRC] " in text
    assert '<<- [CONNECT {"user":"a","pass":"[REDACTED]","verbose":false' in text
    assert "<<- [PUB ok 12]" in text
    assert '<<- MSG_PAYLOAD: ["0123456789ab"]' in text
    assert '->> [-ERR Permissions Violation for Publish to "y.1"]' in text
    assert "->> [MSG ok 2 12]" in text and "->> [PONG]" in text
    assert "->> [-ERR Authorization Violation]" in text
    assert '"pass":"b"' not in text


def test_without_debug_only_errors_are_logged(tmp_path: Path) -> None:
    text = _run_server(tmp_path)
    assert "[DBG]" not in text and "[TRC]" not in text
    assert "Client connection created" not in text
    assert 'Publish Violation - User "a", Subject "y.1"' in text
    assert 'Subscription Violation - User "a", Subject "x.1"' in text


def test_max_traced_msg_len_cuts_payloads(tmp_path: Path) -> None:
    text = _run_server(tmp_path, "-V", "--max_traced_msg_len", "4")
    assert '<<- MSG_PAYLOAD: ["0123"...]' in text


def test_tracer_unit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(1, logger="natskern.trace")
    tracer = Tracer(lambda: "h:1 - cid:9", max_len=0)
    tracer.inbound(b"PUB a 5\r\nhe")  # split reads: the payload waits for its end
    tracer.inbound(b'l\no\r\nHPUB b 2 4\r\nxx\tz\r\nconnect {"auth_token":"t"}\r\n')
    tracer.outbound(b"INFO {}\r\nMSG a 1 5\r\nhel\no\r\n-ERR 'Stale Connection'\r\n")
    assert [r.getMessage() for r in caplog.records] == [
        "h:1 - cid:9 - <<- [PUB a 5]",
        'h:1 - cid:9 - <<- MSG_PAYLOAD: ["hel\\no"]',
        "h:1 - cid:9 - <<- [HPUB b 2 4]",
        'h:1 - cid:9 - <<- MSG_PAYLOAD: ["xx\\tz"]',
        'h:1 - cid:9 - <<- [connect {"auth_token":"[REDACTED]"}]',
        "h:1 - cid:9 - ->> [MSG a 1 5]",
        "h:1 - cid:9 - ->> [-ERR Stale Connection]",
    ]
    assert go_quote(b'a"\x01') == '"a\\"\\x01"'
    assert redact_connect(b'{"pass":"x\\"y","user":"u"}') == b'{"pass":"[REDACTED]","user":"u"}'


def test_syslog_without_a_local_socket_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(runner, "SYSLOG_SOCKETS", (str(tmp_path / "none"),))
    with pytest.raises(ConfigError, match="no local syslog socket"):
        runner.setup_logging(syslog=True)
    with pytest.raises(ConfigError, match="expected udp://host:port"):
        runner.setup_logging(remote_syslog="http://x")


def test_remote_syslog_receives_the_log() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(30)
        port = udp.getsockname()[1]
        try:
            runner.setup_logging(remote_syslog=f"udp://127.0.0.1:{port}")
            logging.getLogger("natskern.test").warning("hello syslog")
            data = udp.recv(4096)
        finally:
            runner.setup_logging()
    assert b"[WRN] hello syslog" in data


def test_syslog_flags_reach_the_logging_section() -> None:
    opts = parse_flags(["-r", "udp://127.0.0.1:5514", "--max_traced_msg_len", "9", "-s"])
    section = load(opts).model["logging"]
    assert section["remote_syslog"] == "udp://127.0.0.1:5514"
    assert section["max_traced_msg_len"] == 9 and section["syslog"] is True


def test_slow_consumer_cut_is_logged(tmp_path: Path) -> None:
    conf = tmp_path / "slow.conf"
    conf.write_text("max_pending: 262144\nmax_payload: 65536\n")
    logfile = tmp_path / "slow.log"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "natskern.natsconf.main", "-c", str(conf), "-a", "127.0.0.1",
         "-p", str(port), "-l", str(logfile), "-D"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(2000):  # bounded wait for the listener
            assert proc.poll() is None, logfile.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        _until(slow, b"\r\n")
        slow.sendall(b'CONNECT {"verbose":false,"name":"slowpoke"}\r\nSUB big 1\r\nPING\r\n')
        _until(slow, b"PONG\r\n")  # subscribed; from now on it reads nothing
        payload = b"x" * 60000
        frame = b"PUB big %d\r\n%s\r\n" % (len(payload), payload)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as pub:
            _until(pub, b"\r\n")
            pub.sendall(b'CONNECT {"verbose":false}\r\n')
            for _ in range(2000):  # until the server cuts the reader (bounded)
                pub.sendall(frame * 4 + b"PING\r\n")
                _until(pub, b"PONG\r\n")
                if "Slow Consumer Detected" in logfile.read_text():
                    break
        slow.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = logfile.read_text()
    assert re.search(
        r'\[WRN\] 127\.0\.0\.1:\d+ - cid:\d+ - "[^"]*:slowpoke" - Slow Consumer Detected', text
    ), text
    assert re.search(r'"[^"]*:slowpoke" - Client connection closed: Slow Consumer', text), text
