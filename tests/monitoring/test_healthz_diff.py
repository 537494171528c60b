"""``/healthz`` with JetStream, differential against nats-server 2.15.1, and natskern's own cases.

Both servers read the same configuration file (``natskern-server -c``) with accounts, get
the same file stream and consumer through nats-py, and then answer the same health probes:
the HTTP status and the JSON body must match byte for byte.  natskern's deliberate
differences (a memory stream and an account with JetStream but no stream are found, where
nats-server looks for folders in its store directory) and the report of a stream that could
not be recovered are checked on natskern alone.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig, StreamConfig

from tests.monitoring.conftest import http_request
from tests.support.processes import server_process, wait_for_port
from tests.support.servers import NATS_SERVER_JS, free_port

CONF = """
listen: 127.0.0.1:{port}
http: 127.0.0.1:{mport}
jetstream {{ store_dir: "{store}", strict: false }}
accounts {{
  A: {{ jetstream: enabled, users: [{{user: a, password: a}}] }}
  E: {{ jetstream: enabled, users: [{{user: e, password: e}}] }}
  C: {{ users: [{{user: c, password: c}}] }}
}}
"""

#: Probes both servers answer alike (status and body).
PATHS = [
    "/healthz",
    "/healthz?js-enabled-only=true",
    "/healthz?js-enabled=1",
    "/healthz?js-server-only=1",
    "/healthz?js-meta-only=1",
    "/healthz?details=1",
    "/healthz?account=A",
    "/healthz?account=C",
    "/healthz?account=nope",
    "/healthz?account=nope&details=true",
    "/healthz?account=A&stream=F",
    "/healthz?account=A&stream=nope",
    "/healthz?account=A&stream=nope&details=1",
    "/healthz?stream=F",
    "/healthz?stream=F&details=1",
    "/healthz?account=A&consumer=D",
    "/healthz?account=A&stream=F&consumer=D",
    "/healthz?account=A&stream=F&consumer=nope",
    "/healthz?account=A&stream=F&consumer=nope&details=1",
    "/healthz?js-enabled-only=maybe",
]


def _natskern_cmd() -> list[str]:
    script = os.path.join(sysconfig.get_path("scripts"), "natskern-server")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "natskern.natsconf.main"]


async def _setup(port: int) -> None:
    nc = await nats.connect(f"nats://a:a@127.0.0.1:{port}")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="F", subjects=["f.>"]))
        await js.add_stream(StreamConfig(name="M", subjects=["m.>"], storage="memory"))
        await js.add_consumer("F", ConsumerConfig(durable_name="D", ack_policy="explicit"))
        await js.add_consumer("M", ConsumerConfig(durable_name="MD", ack_policy="explicit"))
    finally:
        await nc.close()


async def _probe(cmd: list[str], tmp: Path, name: str, paths: list[str]) -> dict[str, tuple]:
    port, mport = free_port(), free_port()
    conf = tmp / f"{name}.conf"
    conf.write_text(CONF.format(port=port, mport=mport, store=tmp / name))
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with server_process([*cmd, "-c", str(conf)], port, env=env, log=tmp / f"{name}.log"):
        wait_for_port(mport)
        base = f"http://127.0.0.1:{mport}"
        await _setup(port)
        out = {}
        for path in paths:
            reply = await http_request(base, path)
            out[path] = (reply.status, reply.body)
        return out


@pytest.mark.skipif(NATS_SERVER_JS is None, reason="nats-server 2.15 not installed")
async def test_healthz_probes_match_nats_server(tmp_path: Path) -> None:
    assert NATS_SERVER_JS is not None
    theirs = await _probe([NATS_SERVER_JS], tmp_path, "nats-server", PATHS)
    ours = await _probe(_natskern_cmd(), tmp_path, "natskern", PATHS)
    for path in PATHS:
        assert ours[path] == theirs[path], path
    assert ours["/healthz?account=A&stream=F&consumer=nope"][0] == 404
    assert ours["/healthz?stream=F"][0] == 400


async def test_healthz_finds_memory_streams_and_accounts_without_streams(tmp_path: Path) -> None:
    paths = [
        "/healthz?account=E",
        "/healthz?account=A&stream=M",
        "/healthz?account=A&stream=M&consumer=MD",
        "/healthz?account=A&stream=M&consumer=nope",
    ]
    ours = await _probe(_natskern_cmd(), tmp_path, "natskern", paths)
    assert ours["/healthz?account=E"] == (200, b'{"status":"ok"}')
    assert ours["/healthz?account=A&stream=M"] == (200, b'{"status":"ok"}')
    assert ours["/healthz?account=A&stream=M&consumer=MD"] == (200, b'{"status":"ok"}')
    status, body = ours["/healthz?account=A&stream=M&consumer=nope"]
    assert status == 404
    assert json.loads(body)["error"] == (
        'JetStream consumer "nope" not found for stream "M" on account "A"'
    )


async def test_healthz_reports_a_stream_that_could_not_be_recovered(tmp_path: Path) -> None:
    # A stream folder whose configuration is unreadable: the server starts without it.
    broken = tmp_path / "natskern" / "jetstream" / "A" / "streams" / "BROKEN"
    broken.mkdir(parents=True)
    (broken / "meta.json").write_bytes(b"\x00not a stream\xff")
    paths = [
        "/healthz",
        "/healthz?details=1",
        "/healthz?account=A&stream=BROKEN",
        "/healthz?account=A&stream=F",
        "/healthz?js-enabled-only=1",
    ]
    ours = await _probe(_natskern_cmd(), tmp_path, "natskern", paths)
    error = "JetStream stream 'A > BROKEN' could not be recovered"
    status, body = ours["/healthz"]
    assert status == 503
    assert json.loads(body) == {"status": "unavailable", "error": error}
    assert b"A \\u003e BROKEN" in body  # Go's encoder escapes ">", as nats-server's does
    details = json.loads(ours["/healthz?details=1"][1])
    assert details == {
        "status": "error",
        "errors": [{"type": "STREAM", "account": "A", "stream": "BROKEN", "error": error}],
    }
    assert ours["/healthz?account=A&stream=BROKEN"][0] == 503
    assert ours["/healthz?account=A&stream=F"] == (200, b'{"status":"ok"}')
    assert ours["/healthz?js-enabled-only=1"] == (200, b'{"status":"ok"}')
