"""The ``jetstream {}`` block of natskern-server's nats-server config, against nats-server 2.15.1.

``sync_interval`` (``always`` or a duration: the opt-in lazy mode), ``store_dir``/``-sd``,
``max_memory_store``, ``max_file_store``, ``domain`` and ``limits { default_max_consumers }``
must mean what they mean to nats-server: the same ``-t`` verdicts, the same ``/jsz``
configuration and limits, the same consumer cap seen through nats-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import APIError

from natskern.natsconf import ConfTranslateError, parse_text, translate_report
from natskern.natsconf.main import main
from tests.support.servers import NATS_SERVER_JS, free_port, wait_for_port

needs_reference = pytest.mark.skipif(
    NATS_SERVER_JS is None, reason="nats-server 2.15 not installed"
)


def _model(text: str) -> dict[str, Any]:
    return translate_report(parse_text(text, "t.conf"), source="t.conf").model["jetstream"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jetstream { sync_interval: always }", {"sync_interval": "always"}),
        ("jetstream { sync_interval: Always }", {"sync_interval": "always"}),
        ('jetstream { sync_interval: "10s" }', {"sync_interval": "10s"}),
        ('jetstream { sync: "1m30s" }', {"sync_interval": "1m30s"}),
        ('jetstream { sync_interval: "0s" }', {}),
        (
            "jetstream { limits { default_max_consumers: 2 } }",
            {"limits": {"default_max_consumers": 2}},
        ),
        (
            "jetstream { limits { default_max_consumers: -1 } }",
            {"limits": {"default_max_consumers": -1}},
        ),
        ("jetstream { limits { default_max_consumers: 0 } }", {}),
        (
            'jetstream { store_dir: "/d", max_memory_store: 64MB, max_file_store: "1G", domain: hub }',
            {"store_dir": "/d", "max_memory": 64 << 20, "max_store": 1 << 30, "domain": "hub"},
        ),
    ],
)
def test_jetstream_keys_translate(text: str, expected: dict[str, Any]) -> None:
    assert _model(text) == {"enabled": True, **expected}


def test_a_bare_number_is_seconds_with_nats_servers_warning() -> None:
    tr = translate_report(parse_text("jetstream { sync_interval: 5 }", "t.conf"), source="t.conf")
    assert tr.model["jetstream"]["sync_interval"] == 5
    assert any("should be converted to a duration" in w for w in tr.warnings)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('jetstream { sync_interval: "bogus" }', "jetstream.sync_interval"),
        ('jetstream { sync_interval: "-5s" }', "must not be negative"),
        ("jetstream { sync_always: true }", 'unknown key "jetstream.sync_always"'),
        ("jetstream { limits { max_consumers: 2 } }", "jetstream.limits.max_consumers"),
    ],
)
def test_jetstream_key_problems(text: str, fragment: str) -> None:
    with pytest.raises(ConfTranslateError) as err:
        translate_report(parse_text(text, "t.conf"), source="t.conf")
    assert any(fragment in p for p in err.value.problems), err.value.problems


# -- -t against nats-server 2.15.1 ---------------------------------------------------------

VALID = [
    "jetstream { sync_interval: always }",
    "jetstream { sync_interval: Always }",
    'jetstream { sync_interval: "10s" }',
    'jetstream { sync: "250ms" }',
    'jetstream { sync_interval: "0s" }',
    "jetstream { limits { default_max_consumers: 2 } }",
    "jetstream { limits { default_max_consumers: -1, max_ack_pending: 10 } }",
    'jetstream { max_memory_store: 64MB, max_file_store: "1G", domain: hub }',
]
INVALID = [
    'jetstream { sync_interval: "bogus" }',
    # nats-server turns its "should be converted to a duration" warning into a -t error
    "jetstream { sync_interval: 5 }",
    # nats-server 2.15.1 has no such key (its /jsz shows sync_always, its config does not)
    "jetstream { sync_always: true }",
    "jetstream { limits { max_consumers: 2 } }",
]


@needs_reference
@pytest.mark.parametrize(
    ("text", "valid"), [(t, True) for t in VALID] + [(t, False) for t in INVALID]
)
def test_config_check_agrees_with_nats_server_2_15(
    text: str, valid: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert NATS_SERVER_JS is not None
    path = tmp_path / "case.conf"
    path.write_text(f'store_dir: "{tmp_path / "s"}"\n{text}\n')
    done = subprocess.run(
        [NATS_SERVER_JS, "-t", "-c", str(path)], capture_output=True, text=True, timeout=30
    )
    assert (done.returncode == 0) is valid, f"nats-server disagrees: {done.stderr}"
    ours = main(["-t", "-c", str(path)]) == 0
    assert ours is valid, capsys.readouterr().err


# -- running servers -------------------------------------------------------------------------


def _natskern_cmd() -> list[str]:
    script = os.path.join(sysconfig.get_path("scripts"), "natskern-server")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "natskern.natsconf.main"]


@contextlib.contextmanager
def _server(cmd: list[str], log: Path, port: int, mport: int) -> Iterator[str]:
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port)
        wait_for_port(mport)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _jsz(mport: int) -> dict[str, Any]:
    """``/jsz`` once JetStream answers (natskern binds its ports before the engine starts)."""
    deadline = time.monotonic() + 15
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", mport)
        writer.write(b"GET /jsz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await reader.read()
        writer.close()
        doc = json.loads(data.partition(b"\r\n\r\n")[2])
        if not doc.get("disabled") or time.monotonic() > deadline:
            return doc
        await asyncio.sleep(0.05)


async def _consumer_cap(url: str, domain: str) -> list[int | str]:
    """Create stream S (no max_consumers) and four consumers; the outcome of each."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(domain=domain or None)
        await js.add_stream(StreamConfig(name="S", subjects=["s.>"]))
        outcome: list[int | str] = []
        for i in range(4):
            try:
                await js.add_consumer(
                    "S", ConsumerConfig(durable_name=f"D{i}", ack_policy="explicit")
                )
                outcome.append("ok")
            except APIError as exc:
                outcome.append(exc.err_code or 0)
        return outcome
    finally:
        await nc.close()


async def _run_both(
    tmp: Path, block: str, flags: list[str] | None = None, *, domain: str = ""
) -> dict[str, dict[str, Any]]:
    """Both servers on the same config text; their /jsz config and limits, consumer
    outcomes and start-up log (the store directory replaced by ``<store>``)."""
    assert NATS_SERVER_JS is not None
    out: dict[str, dict[str, Any]] = {}
    for name, cmd in (("nats-server", [NATS_SERVER_JS]), ("natskern", _natskern_cmd())):
        port, mport = free_port(), free_port()
        store = tmp / name / "store"
        store.parent.mkdir()
        conf = tmp / name / "js.conf"
        conf.write_text(
            f"listen: 127.0.0.1:{port}\nhttp: 127.0.0.1:{mport}\n"
            + block.format(store=store)
            + "\n"
        )
        args = [a.format(store=store) for a in flags or []]
        log = tmp / name / "log"
        with _server([*cmd, "-c", str(conf), *args], log, port, mport) as url:
            jsz = await _jsz(mport)
            outcome = await _consumer_cap(url, domain)
        config = dict(jsz["config"])
        config["store_dir"] = config["store_dir"].replace(str(store), "<store>")
        config.pop("max_storage", None)  # the disk estimate moves between the runs
        out[name] = {
            "config": config,
            "limits": jsz["limits"],
            "consumers": outcome,
            "log": log.read_text(errors="replace"),
        }
    return out


@needs_reference
async def test_lazy_sync_interval_and_limits_match_nats_server(tmp_path: Path) -> None:
    block = (
        'jetstream {{ store_dir: "{store}", strict: false, sync_interval: "10s",\n'
        "  max_memory_store: 64MB, max_file_store: 1G, domain: hub,\n"
        "  limits {{ default_max_consumers: 2 }} }}"
    )
    found = await _run_both(tmp_path, block, domain="hub")
    ours, theirs = found["natskern"], found["nats-server"]
    assert ours["config"] == theirs["config"]
    assert list(ours["config"]) == list(theirs["config"])
    assert ours["config"]["sync_interval"] == 10_000_000_000
    assert ours["config"]["domain"] == "hub" and ours["config"]["max_memory"] == 64 << 20
    assert ours["limits"] == theirs["limits"] == {"default_max_consumers": 2}
    assert ours["consumers"] == theirs["consumers"] == ["ok", "ok", 10026, 10026]
    assert "LAZY: fsync every 10s" in ours["log"]


@needs_reference
async def test_sync_always_and_store_dir_flag_match_nats_server(tmp_path: Path) -> None:
    block = "jetstream {{ strict: false, sync_interval: always }}"
    found = await _run_both(tmp_path, block, ["-sd", "{store}"])
    ours, theirs = found["natskern"], found["nats-server"]
    assert ours["config"] == theirs["config"]
    assert ours["config"]["sync_always"] is True
    assert ours["config"]["store_dir"] == "<store>/jetstream"
    assert ours["limits"] == theirs["limits"] == {"default_max_consumers": 1000}
    assert ours["consumers"] == theirs["consumers"] == ["ok"] * 4
    assert "durable: acknowledged after fsync" in ours["log"]
    assert "LAZY" not in ours["log"] and '"jetstream.sync_interval" is ignored' not in ours["log"]
