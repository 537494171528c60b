"""``/jsz``, ``/varz``'s ``jetstream`` and ``/accountz``'s ``jetstream_enabled``, differential
against nats-server 2.15.1.

Both servers read the same nats-server configuration file (``natskern-server -c``), get the
same streams, consumers and messages through nats-py, and their monitoring JSON is then
compared value for value and key order for key order, after normalising what differs by
nature: ids, times, the store directory, the advertised API level (natskern's own), the
disk estimate (free space moves between the two runs), and the keys listed in
``ONLY_NATS_SERVER``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import sysconfig
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nats
import pytest
from nats.js.api import ConsumerConfig, StreamConfig, StreamSource
from nats.js.errors import BadRequestError, NotFoundError
from natskern.kernel.jetstream import API_LEVEL

from tests.monitoring.conftest import http_request
from tests.support.servers import NATS_SERVER_JS, free_port, wait_for_port

if TYPE_CHECKING:
    from tests.monitoring.conftest import Monitored

pytestmark = pytest.mark.skipif(NATS_SERVER_JS is None, reason="nats-server 2.15 not installed")

#: What nats-server 2.15 shows and natskern does not implement (key paths), with the reason.
ONLY_NATS_SERVER: set[str] = set()

DEFAULT_CONF = """
listen: 127.0.0.1:{port}
http: 127.0.0.1:{mport}
jetstream {{ store_dir: "{store}", strict: false, sync_interval: always }}
"""

ACCOUNTS_CONF = """
listen: 127.0.0.1:{port}
http: 127.0.0.1:{mport}
jetstream {{
  store_dir: "{store}", strict: false, sync_interval: always,
  max_memory_store: 64MB, max_file_store: 256MB, domain: hub
}}
accounts {{
  A: {{
    jetstream: {{ max_mem: 1MB, max_file: 8MB, max_streams: 4, max_consumers: 8 }}
    users: [{{user: a, password: a}}]
  }}
  B: {{ jetstream: enabled, users: [{{user: b, password: b}}] }}
  C: {{ users: [{{user: c, password: c}}] }}
}}
"""

DEFAULT_PATHS = [
    "/jsz",
    "/jsz?accounts=1",
    "/jsz?streams=1",
    "/jsz?consumers=1",
    "/jsz?consumers=true&config=true",
    "/jsz?acc=$G&streams=1&config=1",
    "/jsz?acc=$G",
    "/jsz?acc=nope&streams=1",
    "/jsz?accounts=1&offset=1",
    "/jsz?accounts=1&limit=-1",
    "/jsz?raft=1&leader-only=1&stream-leader-only=1",
    "/varz",
    "/accountz?acc=$G",
]

ACCOUNTS_PATHS = [
    "/jsz",
    "/jsz?accounts=1",
    "/jsz?accounts=1&limit=1",
    "/jsz?accounts=1&offset=1&limit=1",
    "/jsz?accounts=1&offset=5",
    "/jsz?acc=B&consumers=1&config=1",
    "/jsz?acc=A&streams=1",
    "/jsz?acc=C&streams=1",
    "/varz",
    "/accountz?acc=A",
    "/accountz?acc=C",
]

_TIMES = {"now", "created", "ts", "first_ts", "last_ts", "last_active", "active"}
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _natskern_cmd() -> list[str]:
    script = os.path.join(sysconfig.get_path("scripts"), "natskern-server")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "natskern.natsconf.main"]


@contextlib.contextmanager
def _server(cmd: list[str], conf: Path, port: int, mport: int) -> Iterator[str]:
    env = {**os.environ, "NATSKERN_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen(
        [*cmd, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        wait_for_port(port)
        wait_for_port(mport)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _get(base: str, path: str) -> Any:
    reply = await http_request(base, path)
    assert reply.status == 200, (path, reply.body)
    return reply.json()


async def _jetstream_ready(base: str) -> None:
    """natskern binds its ports before its plugins start the engine; wait for it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not (await _get(base, "/jsz")).get("disabled"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("JetStream never started")


async def _wait_mirror(base: str, name: str, count: int) -> None:
    """Until stream ``name`` holds ``count`` messages (asked over HTTP: the API would count)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        doc = await _get(base, "/jsz?streams=1&limit=-1")
        states = {
            s["name"]: s["state"]["messages"]
            for a in doc.get("account_details", [])
            for s in a.get("stream_detail", [])
        }
        if states.get(name, 0) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never caught up")


async def default_traffic(hostport: str, base: str) -> None:
    """Streams, consumers, messages and one failed request in the global account."""
    nc = await nats.connect(f"nats://{hostport}")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="ORDERS", subjects=["orders.>"], max_bytes=1 << 20))
        await js.add_stream(StreamConfig(name="EVENTS", subjects=["ev.*"], max_msgs=100))
        for i in range(3):
            await js.publish("orders.new", b"order %d" % i, headers={"k": "v"} if i else None)
        await js.publish("orders.old", b"x" * 50)
        await js.publish("ev.a", b"")
        await js.add_consumer("ORDERS", ConsumerConfig(durable_name="PULL", ack_policy="explicit"))
        await js.add_consumer(
            "ORDERS",
            ConsumerConfig(durable_name="PUSH", deliver_subject="nobody.here", ack_policy="none"),
        )
        sub = await js.pull_subscribe("orders.>", "PULL", stream="ORDERS")
        for msg in await sub.fetch(2):
            await msg.ack()
        await js.add_stream(StreamConfig(name="COPY", mirror=StreamSource(name="ORDERS")))
        await _wait_mirror(base, "COPY", 4)
        with contextlib.suppress(NotFoundError):
            await js.stream_info("MISSING")
        await nc.flush()
    finally:
        await nc.close()


async def accounts_traffic(hostport: str, base: str) -> None:
    """Streams in A and B; C (without JetStream) asks anyway."""
    for user, streams in (("a", ["A1", "A2"]), ("b", ["B1"])):
        nc = await nats.connect(f"nats://{user}:{user}@{hostport}")
        try:
            js = nc.jetstream(domain="hub")
            for name in streams:
                await js.add_stream(
                    StreamConfig(name=name, subjects=[f"{name.lower()}.>"], max_bytes=1 << 20)
                )
                await js.publish(f"{name.lower()}.x", name.encode() * 4)
            if user == "b":
                await js.add_consumer("B1", ConsumerConfig(durable_name="D", ack_policy="all"))
                with contextlib.suppress(BadRequestError):
                    await js.add_stream(StreamConfig(name="BAD", subjects=["b1.x"]))
        finally:
            await nc.close()
    nc = await nats.connect(f"nats://c:c@{hostport}")
    try:
        await nc.request("$JS.API.INFO", b"", timeout=5)
    finally:
        await nc.close()


async def extras_traffic(hostport: str, base: str) -> None:
    """A memory stream and a stream sourcing from two others, with a consumer."""
    nc = await nats.connect(f"nats://{hostport}")
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="MEM", subjects=["mem.*"], storage="memory"))
        await js.add_stream(StreamConfig(name="FILE", subjects=["file.*"]))
        for i in range(3):
            await js.publish(f"mem.{i}", b"m" * (i + 1), headers={"h": "1"} if i == 2 else None)
            await js.publish(f"file.{i}", b"f" * 10)
        await js.add_consumer("MEM", ConsumerConfig(durable_name="M", ack_policy="explicit"))
        await js.add_stream(
            StreamConfig(
                name="ALL",
                sources=[
                    StreamSource(name="FILE", filter_subject="file.1"),
                    StreamSource(name="MEM"),
                ],
            )
        )
        await _wait_mirror(base, "ALL", 4)
    finally:
        await nc.close()


def _sort_details(doc: Any) -> Any:
    """Streams and consumers in name order (nats-server lists them in map order)."""
    if isinstance(doc, dict):
        out = {k: _sort_details(v) for k, v in doc.items()}
        for key in ("stream_detail", "consumer_detail", "sources"):
            if isinstance(out.get(key), list):
                out[key] = sorted(out[key], key=lambda d: d["name"])
        return out
    if isinstance(doc, list):
        return [_sort_details(v) for v in doc]
    return doc


def normalise(doc: Any, store: str, path: str = "") -> Any:
    """Ids, times, the store path and the API level replaced by placeholders (order kept)."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            sub = f"{path}.{key}" if path else key
            if sub in ONLY_NATS_SERVER:
                continue
            if key in _TIMES and isinstance(value, str | int) and value != _ZERO_TIME:
                value = "<time>"
            elif key in ("server_id", "leader"):
                value = "<id>"
            elif key == "store_dir":
                value = value.replace(store, "<store>")
            elif key == "level" and value:
                value = "<level>"
            out[key] = normalise(value, store, sub)
        return out
    if isinstance(doc, list):
        return [normalise(v, store, path) for v in doc]
    return doc


def keys_in_order(doc: Any, path: str = "") -> list[str]:
    """Every key path of ``doc`` in document order."""
    out: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            sub = f"{path}.{key}"
            out.append(sub)
            out.extend(keys_in_order(value, sub))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(keys_in_order(value, f"{path}[{i}]"))
    return out


def _focus(path: str, doc: Any) -> Any:
    """The part of an endpoint this test owns."""
    if path == "/varz":
        return doc["jetstream"]
    if path.startswith("/accountz"):
        return {"jetstream_enabled": doc["account_detail"]["jetstream_enabled"]}
    return _sort_details(doc)


@contextlib.asynccontextmanager
async def _running(
    conf_text: str, tmp: Path, name: str, cmd: list[str]
) -> AsyncIterator[tuple[str, str, str]]:
    port, mport = free_port(), free_port()
    store = tmp / name
    store.mkdir()
    conf = tmp / f"{name}.conf"
    conf.write_text(conf_text.format(port=port, mport=mport, store=store))
    with _server(cmd, conf, port, mport) as hostport:
        base = f"http://127.0.0.1:{mport}"
        await _jetstream_ready(base)
        yield hostport, base, str(store)


async def snapshots(
    tmp: Path, conf_text: str, traffic: Any, paths: list[str]
) -> dict[str, dict[str, Any]]:
    """{server: {path: raw JSON}} after the same traffic, plus each server's store dir."""
    results: dict[str, dict[str, Any]] = {}
    assert NATS_SERVER_JS is not None
    for name, cmd in (("nats-server", [NATS_SERVER_JS]), ("natskern", _natskern_cmd())):
        async with _running(conf_text, tmp, name, cmd) as (hostport, base, store):
            await traffic(hostport, base)
            docs = {path: await _get(base, path) for path in paths}
            docs["<store>"] = store
            results[name] = docs
    return results


def compare(results: dict[str, dict[str, Any]], paths: list[str]) -> None:
    """Every path equal after normalising, keys in the same order."""
    ours, theirs = results["natskern"], results["nats-server"]
    for path in paths:
        mine = normalise(_focus(path, ours[path]), ours["<store>"])
        real = normalise(_focus(path, theirs[path]), theirs["<store>"])
        assert mine == real, path
        assert keys_in_order(mine) == keys_in_order(real), path


def _disk_estimates(results: dict[str, dict[str, Any]]) -> None:
    """The disk estimates agree within 1 % (free space moves between the runs); then unify."""
    values = [results[s]["/varz"]["jetstream"]["config"]["max_storage"] for s in results]
    assert abs(values[0] - values[1]) <= values[1] / 100, values
    for docs in results.values():
        for path, doc in docs.items():
            if path == "<store>":
                continue
            config = doc["jetstream"]["config"] if path == "/varz" else doc.get("config")
            if config and "max_storage" in config:
                config["max_storage"] = "<disk>"


def _discount_source_setups(docs: dict[str, Any], count: int) -> None:
    """Take the internal consumer creates of ``count`` mirrors/sources off nats-server's API
    totals: it sets a mirror up through its own ``$JS.API.CONSUMER.CREATE`` (counted), where
    natskern's sourcing reads the origin stream directly."""
    for path, doc in docs.items():
        if path == "<store>":
            continue
        apis = [doc["jetstream"]["stats"]["api"]] if path == "/varz" else []
        if path.startswith("/jsz"):
            apis = [doc["api"], *(a["api"] for a in doc.get("account_details", []))]
        for api in apis:
            api["total"] -= count


async def test_jsz_matches_nats_server_default_config(tmp_path: Path) -> None:
    results = await snapshots(tmp_path, DEFAULT_CONF, default_traffic, DEFAULT_PATHS)
    _disk_estimates(results)
    _discount_source_setups(results["nats-server"], 1)
    compare(results, DEFAULT_PATHS)
    ours = results["natskern"]
    assert ours["/jsz"]["api"]["level"] == API_LEVEL
    assert ours["/jsz"]["streams"] == 3 and ours["/jsz"]["consumers"] == 2
    detail = ours["/jsz?consumers=1"]["account_details"][0]
    assert {c["name"] for s in detail["stream_detail"] for c in s.get("consumer_detail", [])} == {
        "PULL",
        "PUSH",
    }


async def test_jsz_matches_nats_server_with_accounts_and_limits(tmp_path: Path) -> None:
    results = await snapshots(tmp_path, ACCOUNTS_CONF, accounts_traffic, ACCOUNTS_PATHS)
    compare(results, ACCOUNTS_PATHS)
    ours = results["natskern"]["/jsz?accounts=1"]
    assert [a["name"] for a in ours["account_details"]] == ["A", "B"]
    assert ours["total"] == 2 and ours["config"]["domain"] == "hub"


@contextlib.contextmanager
def _plain_nats_server() -> Iterator[str]:
    """nats-server 2.15.1 without JetStream, monitoring on; yields the monitoring URL."""
    assert NATS_SERVER_JS is not None
    port, mport = free_port(), free_port()
    cmd = [NATS_SERVER_JS, "-a", "127.0.0.1", "-p", str(port), "-m", str(mport)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(mport)
        yield f"http://127.0.0.1:{mport}"
    finally:
        proc.terminate()
        proc.wait(5)


OFF_ERRORS = [
    "/jsz?leader-only=1",
    "/jsz?accounts=maybe",
    "/jsz?direct-consumers=2",
    "/jsz?offset=1.5",
    "/jsz?limit=x&config=x",
    "/jsz?stream-leader-only=no",
]


async def test_jsz_without_jetstream_matches_nats_server(monitored: Monitored) -> None:
    with _plain_nats_server() as theirs:
        for path in ("/jsz", "/jsz?accounts=1&streams=1&consumers=1&config=1&acc=$G"):
            mine = normalise(await _get(monitored.monitor_url, path), "")
            real = normalise(await _get(theirs, path), "")
            assert mine == real, path
            assert keys_in_order(mine) == keys_in_order(real), path
        mine_varz = await _get(monitored.monitor_url, "/varz")
        assert mine_varz["jetstream"] == (await _get(theirs, "/varz"))["jetstream"] == {}
        for path in OFF_ERRORS:
            mine_reply = await http_request(monitored.monitor_url, path)
            real_reply = await http_request(theirs, path)
            assert (mine_reply.status, mine_reply.body) == (real_reply.status, real_reply.body)
            assert mine_reply.status == 400, path


EXTRAS_PATHS = ["/jsz?consumers=1&config=1", "/varz"]


async def test_jsz_memory_and_sourced_streams_match_nats_server(tmp_path: Path) -> None:
    """A memory stream and a stream sourcing from it and a file stream: every figure
    matches, byte counts included (nats-server's memory store counts ``len(subject) +
    len(headers) + len(payload) + 16``; a sourced message's ``Nats-Stream-Source`` ends
    with the origin's identity token), and ``sources[]`` carries ``seq``."""
    results = await snapshots(tmp_path, DEFAULT_CONF, extras_traffic, EXTRAS_PATHS)
    _disk_estimates(results)
    _discount_source_setups(results["nats-server"], 2)
    compare(results, EXTRAS_PATHS)
    detail = results["natskern"]["/jsz?consumers=1&config=1"]["account_details"][0]
    streams = {s["name"]: s for s in detail["stream_detail"]}
    assert {s["name"]: s.get("seq") for s in streams["ALL"]["sources"]} == {"FILE": 2, "MEM": 3}
    assert streams["MEM"]["state"]["bytes"] == sum(
        len(f"mem.{i}") + (i + 1) + 16 for i in range(3)
    ) + len(b"NATS/1.0\r\nh: 1\r\n\r\n")
