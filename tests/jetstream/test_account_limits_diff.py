"""Account JetStream limits, differential: one nats-server config file for both servers.

nats-server 2.15.1 and ``natskern-server`` read the same configuration (accounts with
limits, one with ``jetstream: enabled``, one without JetStream); the same requests per
account must get the same answers (times and server identity dropped).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.jetstream.test_api_diff import normalise
from tests.jetstream.test_restart import connect_when_ready
from tests.support.processes import server_process
from tests.support.servers import NATS_SERVER_JS, free_port

CONF = """
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{store}", max_memory_store: 10MB, max_file_store: 10MB, strict: false }}
accounts {{
  A: {{
    jetstream: {{
      max_mem: 1MB, max_file: 2MB, max_streams: 2, max_consumers: 3,
      max_bytes_required: true, max_ack_pending: 100
    }}
    users: [{{user: a, password: a}}]
  }}
  B: {{ jetstream: enabled, users: [{{user: b, password: b}}] }}
  C: {{ users: [{{user: c, password: c}}] }}
  D: {{ jetstream: {{ max_mem: 2KB, max_file: 1KB }}, users: [{{user: d, password: d}}] }}
}}
"""

STEPS: list[tuple[str, dict[str, Any] | bytes]] = [
    ("INFO", b""),
    ("STREAM.CREATE.X1", {"name": "X1", "storage": "memory"}),
    ("STREAM.CREATE.X1", {"name": "X1", "storage": "memory", "max_bytes": 524288}),
    ("INFO", b""),
    ("STREAM.CREATE.X2", {"name": "X2", "storage": "memory", "max_bytes": 2097152}),
    (
        "STREAM.CREATE.X2",
        {"name": "X2", "storage": "memory", "max_bytes": 524288, "max_consumers": 5},
    ),
    ("STREAM.CREATE.X2", {"name": "X2", "storage": "memory", "max_bytes": 524288}),
    ("STREAM.CREATE.X3", {"name": "X3", "max_bytes": 1024}),
    ("STREAM.CREATE.X3", {"name": "X3", "subjects": ["a..b"]}),
    ("STREAM.CREATE.X1", {"name": "X1", "storage": "memory", "max_bytes": 524288}),
    ("STREAM.UPDATE.X1", {"name": "X1", "storage": "memory", "max_bytes": 1048576}),
    ("STREAM.UPDATE.X1", {"name": "X1", "storage": "memory", "max_bytes": 262144}),
    ("STREAM.NAMES", b""),
    ("STREAM.INFO.X1", b""),
    ("STREAM.LIST", b""),
    ("STREAM.PURGE.X1", b""),
    ("STREAM.MSG.GET.X1", {"seq": 1}),
    ("STREAM.MSG.DELETE.X1", {"seq": 1}),
    ("INFO", b""),
    ("STREAM.DELETE.X1", b""),
    ("STREAM.DELETE.X2", b""),
    ("STREAM.DELETE.X3", b""),
]


@contextlib.contextmanager
def _server(cmd: list[str], conf: Path, port: int) -> Iterator[str]:
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with server_process([*cmd, "-c", str(conf)], port, env=env, stop_timeout=5.0):
        yield f"127.0.0.1:{port}"


def _natskern_cmd() -> list[str]:
    script = os.path.join(sysconfig.get_path("scripts"), "natskern-server")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "natskern.natsconf.main"]


async def _usage(hostport: str) -> list[Any]:
    """Publishes into an account whose usage limit they reach (10002)."""
    nc = await nats.connect(f"nats://d:d@{hostport}")
    out: list[Any] = []
    try:
        for body in (
            {"name": "M", "subjects": ["m"], "storage": "memory"},
            {"name": "F", "subjects": ["f"]},
        ):
            msg = await nc.request(
                f"$JS.API.STREAM.CREATE.{body['name']}", json.dumps(body).encode()
            )
            out.append(normalise(json.loads(msg.data)))
        for subject in ("m", "m", "m", "f", "f"):
            msg = await nc.request(subject, b"x" * 1000, timeout=5)
            out.append(json.loads(msg.data))
    finally:
        await nc.close()
    return out


async def _run(hostport: str) -> list[Any]:
    ready = await connect_when_ready(f"nats://b:b@{hostport}")
    await ready.close()
    out: list[Any] = await _usage(hostport)
    for user in ("a", "b", "c"):
        nc = await nats.connect(f"nats://{user}:{user}@{hostport}")
        try:
            for subject, body in STEPS:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                msg = await nc.request("$JS.API." + subject, data, timeout=5)
                out.append((user, subject, normalise(json.loads(msg.data))))
        finally:
            await nc.close()
    return out


async def test_account_limits_match_nats_server(tmp_path: Path) -> None:
    if NATS_SERVER_JS is None:
        pytest.skip("nats-server 2.15 is not installed")
    results = []
    for name, cmd in (("nats-server", [NATS_SERVER_JS]), ("natskern", _natskern_cmd())):
        port = free_port()
        conf = tmp_path / f"{name}.conf"
        conf.write_text(CONF.format(port=port, store=tmp_path / name))
        with _server(cmd, conf, port) as hostport:
            results.append(await _run(hostport))
    theirs, ours = results
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {i}"
