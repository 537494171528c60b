"""JetStream benchmark scenarios: publish, pull consume, KV and object store, natskern vs
nats-server 2.15.

Each scenario runs on up to three fresh servers, one after the other: natskern (durable, or
lazy for ``js-pub-async-lazy``), nats-server 2.15 with its default lazy fsync, and — for
file storage — nats-server with ``sync_interval: always``. Streams, consumers and buckets
are created with nats-py; the load itself comes from the raw-socket workers of
``loadgen_js``. Every server gets its own temporary store directory, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import ProtocolError
from loadgen_js import js_puller, js_pusher, js_requester, obj_getter, obj_putter
from procs import Workers
from servers import HOST, Server, ServerStartError

#: Seconds a worker may take beyond the run time to deliver its result.
RESULT_GRACE = 120.0
MSG_SIZE = 128
KV_KEYS = 1000
STREAM = "BENCH"
SUBJECT = b"bench.js"
#: The object of the object-store scenarios (``--quick``: 32 MiB; ``--count``: MiB).
OBJ_SIZE = 256 << 20
OBJ_BUCKET = "bench"
#: Chunk PubAcks a put keeps outstanding (nats.go publishes the chunks asynchronously).
OBJ_INFLIGHT = 32

#: Server slots: (label, kind, mode). ``mode`` is durable/lazy for natskern and
#: default/always for nats-server.
NATSKERN = "natskern"
NS_DEFAULT = "nats-server"
NS_ALWAYS = "nats-server always"


def nats_server_js_path() -> str | None:
    """Return nats-server 2.15 (the JetStream reference), or None."""
    from natskern.testing import find_nats_server

    return find_nats_server("2.15")


@dataclass
class JsOptions:
    """What every JetStream scenario run needs to know."""

    seconds: float = 3.0
    count: int | None = None
    quick: bool = False
    workdir: Path = field(default_factory=Path)

    @property
    def prefill(self) -> int:
        """Messages in the stream the pull scenarios read."""
        if self.count is not None:
            return self.count
        return 20_000 if self.quick else 1_000_000

    @property
    def object_size(self) -> int:
        """Bytes of the object the object-store scenarios put and get."""
        if self.count is not None:
            return self.count << 20
        return 32 << 20 if self.quick else OBJ_SIZE


@dataclass(frozen=True)
class JsScenario:
    """One JetStream scenario: what it measures and on which storage."""

    title: str
    measure: Callable[[Server, str, JsOptions], tuple[float, str, dict[str, Any]]]
    storage: str = "file"
    lazy: bool = False
    #: Also run nats-server ``sync_interval: always`` (file storage, not lazy). Off for the
    #: consume scenarios: pre-filling 1 M messages at one fsync each takes minutes, and
    #: reading does not write the stream.
    always: bool = True
    unit: str = "msgs/s"


@dataclass
class JsOutcome:
    """The result of one JetStream scenario on one server slot."""

    scenario: str
    server: str
    value: float | None = None
    unit: str = "msgs/s"
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: bool = False


def _natskern_argv(port: int, store: Path, conf_dir: Path, lazy: bool) -> list[str]:
    argv = [sys.executable, "-m", "natskern", "serve", "--host", HOST, "--port", str(port)]
    argv += ["--store-dir", str(store)]
    if lazy:
        conf = conf_dir / f"lazy-{port}.toml"
        conf.write_text(
            f'[jetstream]\nenabled = true\nstore_dir = "{store}"\nsync_interval = "1s"\n'
        )
        argv += ["--config", str(conf)]
    return argv


def _nats_server_argv(port: int, store: Path, conf_dir: Path, always: bool) -> list[str]:
    conf = conf_dir / f"js-{port}.conf"
    sync = "  sync_interval: always\n" if always else ""
    conf.write_text(f'jetstream {{\n  store_dir: "{store}"\n{sync}}}\n')
    path = nats_server_js_path() or "nats-server"
    return [path, "-a", HOST, "-p", str(port), "-c", str(conf)]


def start_server(slot: str, workdir: Path, lazy: bool = False) -> tuple[Server, Path]:
    """Start the server of ``slot`` with JetStream on a fresh store; return it and the store."""
    store = Path(tempfile.mkdtemp(prefix="store-", dir=workdir))

    def argv(port: int) -> list[str]:
        if slot == NATSKERN:
            return _natskern_argv(port, store, workdir, lazy)
        return _nats_server_argv(port, store, workdir, slot == NS_ALWAYS)

    kind = "natskern" if slot == NATSKERN else "nats-server"
    try:
        return Server(kind, workdir, argv=argv), store
    except BaseException:
        shutil.rmtree(store, ignore_errors=True)
        raise


# --- setup through nats-py -------------------------------------------------------------


async def _with_js(server: Server, body: Callable[[Any], Any]) -> Any:
    import nats

    nc = await nats.connect(f"nats://{server.host}:{server.port}", connect_timeout=10)
    try:
        return await body(nc.jetstream(timeout=30))
    finally:
        await nc.close()


def _make_stream(server: Server, storage: str) -> None:
    from nats.js import api

    async def body(js: Any) -> None:
        await js.add_stream(
            name=STREAM,
            subjects=[SUBJECT.decode()],
            storage=api.StorageType.FILE if storage == "file" else api.StorageType.MEMORY,
        )

    asyncio.run(_with_js(server, body))


def _make_consumer(server: Server, ack: bool) -> str:
    from nats.js import api

    name = "pull_ack" if ack else "pull_none"

    async def body(js: Any) -> None:
        policy = api.AckPolicy.EXPLICIT if ack else api.AckPolicy.NONE
        await js.add_consumer(
            STREAM,
            api.ConsumerConfig(durable_name=name, ack_policy=policy, max_ack_pending=-1),
        )

    asyncio.run(_with_js(server, body))
    return name


def _make_bucket(server: Server) -> None:
    from nats.js import api

    async def body(js: Any) -> None:
        cfg = api.KeyValueConfig(bucket="b", history=1, storage=api.StorageType.FILE, direct=True)
        await js.create_key_value(cfg)

    asyncio.run(_with_js(server, body))


# --- measures --------------------------------------------------------------------------


def _requests(
    server: Server,
    subjects: list[bytes],
    size: int,
    inflight: int,
    seconds: float,
    count: int | None,
) -> dict[str, Any]:
    """Run one ``js_requester`` and return its result with ``rate``."""
    with Workers() as workers:
        req = workers.start(
            js_requester, server.host, server.port, subjects, size, inflight, seconds, count
        )
        req.ready()
        req.send("go")
        res = req.result(seconds + RESULT_GRACE)
    res["rate"] = res["completed"] / (res["t_end"] - res["t0"])
    return res


def _publish(inflight: int) -> Callable[[Server, str, JsOptions], tuple[float, str, dict]]:
    def measure(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
        _make_stream(server, storage)
        res = _requests(server, [SUBJECT], MSG_SIZE, inflight, opts.seconds, opts.count)
        return res["rate"], "", res

    return measure


def _prefilled_stream(server: Server, storage: str, opts: JsOptions) -> None:
    """Create the stream and publish ``opts.prefill`` messages into it (256 in flight)."""
    _make_stream(server, storage)
    fill = _requests(server, [SUBJECT], MSG_SIZE, 256, 600.0, opts.prefill)
    if fill["completed"] != opts.prefill:
        raise ProtocolError(f"prefill stored {fill['completed']} of {opts.prefill}")


def _pull(ack: bool) -> Callable[[Server, str, JsOptions], tuple[float, str, dict]]:
    def measure(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
        _prefilled_stream(server, storage, opts)
        name = _make_consumer(server, ack)
        with Workers() as workers:
            pull = workers.start(
                js_puller,
                server.host,
                server.port,
                STREAM,
                name,
                256,
                ack,
                opts.prefill,
                opts.seconds,
            )
            pull.ready()
            pull.send("go")
            res = pull.result(opts.seconds + RESULT_GRACE)
        res["rate"] = res["received"] / (res["t_end"] - res["t0"])
        res["prefill"] = opts.prefill
        note = f"{res['received']:,} of {opts.prefill:,}"
        return res["rate"], note, res

    return measure


def _push(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
    _prefilled_stream(server, storage, opts)
    with Workers() as workers:
        push = workers.start(
            js_pusher, server.host, server.port, STREAM, MSG_SIZE, opts.prefill, opts.seconds
        )
        push.ready()
        push.send("go")
        res = push.result(opts.seconds + RESULT_GRACE)
    res["rate"] = res["received"] / (res["t_end"] - res["t0"])
    res["prefill"] = opts.prefill
    return res["rate"], f"{res['received']:,} of {opts.prefill:,}", res


def _keys() -> list[bytes]:
    return [b"$KV.b.k%04d" % i for i in range(KV_KEYS)]


def _kv_put(inflight: int) -> Callable[[Server, str, JsOptions], tuple[float, str, dict]]:
    def measure(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
        _make_bucket(server)
        res = _requests(server, _keys(), MSG_SIZE, inflight, opts.seconds, opts.count)
        return res["rate"], "", res

    return measure


def _kv_get(inflight: int) -> Callable[[Server, str, JsOptions], tuple[float, str, dict]]:
    def measure(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
        _make_bucket(server)
        keys = _keys()
        _requests(server, keys, MSG_SIZE, 64, 600.0, KV_KEYS)
        gets = [b"$JS.API.DIRECT.GET.KV_b." + k for k in keys]
        res = _requests(server, gets, 0, inflight, opts.seconds, opts.count)
        return res["rate"], "", res

    return measure


def _make_object_store(server: Server) -> None:
    async def body(js: Any) -> None:
        await js.create_object_store(OBJ_BUCKET)

    asyncio.run(_with_js(server, body))


def _obj_meta_subject(name: str) -> str:
    import base64

    return f"$O.{OBJ_BUCKET}.M." + base64.urlsafe_b64encode(name.encode()).decode()


def _obj_transfer(server: Server, worker: Callable[..., None], *args: Any) -> dict[str, Any]:
    with Workers() as workers:
        w = workers.start(worker, server.host, server.port, OBJ_BUCKET, *args)
        w.ready()
        w.send("go")
        res = w.result(RESULT_GRACE * 5)
    res["mb_s"] = res["bytes"] / 1e6 / (res["t_end"] - res["t0"])
    return res


def _obj_put(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
    _make_object_store(server)
    size = opts.object_size
    base = server.rss_mib() if server.kind == "natskern" else None
    res = _obj_transfer(server, obj_putter, _obj_meta_subject("big"), "N" * 22, size, OBJ_INFLIGHT)
    note = f"{size >> 20} MiB"
    if base is not None:
        res["rss_growth_mib"] = server.rss_mib() - base
    return res["mb_s"], note, res


def _obj_get(server: Server, storage: str, opts: JsOptions) -> tuple[float, str, dict]:
    _make_object_store(server)
    size = opts.object_size
    meta = _obj_meta_subject("big")
    _obj_transfer(server, obj_putter, meta, "N" * 22, size, OBJ_INFLIGHT)
    res = _obj_transfer(server, obj_getter, meta, size)
    return res["mb_s"], f"{size >> 20} MiB", res


JS_SCENARIOS: dict[str, JsScenario] = {
    "js-pub-sync": JsScenario("JS publish, 1 in flight, 128 B, file", _publish(1)),
    "js-pub-async": JsScenario("JS publish, 256 in flight, 128 B, file", _publish(256)),
    "js-pub-async-mem": JsScenario(
        "JS publish, 256 in flight, 128 B, memory", _publish(256), storage="memory"
    ),
    "js-pub-async-lazy": JsScenario(
        "JS publish, 256 in flight, file, natskern sync 1s", _publish(256), lazy=True
    ),
    "js-pull": JsScenario("pull consume, batch 256, ack none", _pull(False), always=False),
    "js-pull-ack": JsScenario("pull consume, batch 256, ack explicit", _pull(True), always=False),
    "js-push-fc": JsScenario("push consume, flow control, ack none", _push, always=False),
    "kv-put-1": JsScenario("KV put, 1 in flight, 1,000 keys, 128 B", _kv_put(1)),
    "kv-put-64": JsScenario("KV put, 64 in flight, 1,000 keys, 128 B", _kv_put(64)),
    "kv-get-1": JsScenario("KV direct get, 1 in flight, 1,000 keys", _kv_get(1)),
    "kv-get-64": JsScenario("KV direct get, 64 in flight, 1,000 keys", _kv_get(64)),
    "obj-put": JsScenario("object put, 256 MiB, 128 KiB chunks", _obj_put, unit="MB/s"),
    "obj-put-lazy": JsScenario(
        "object put, 256 MiB, natskern sync 1s", _obj_put, lazy=True, unit="MB/s"
    ),
    "obj-get": JsScenario(
        "object get, 256 MiB, ordered consumer", _obj_get, always=False, unit="MB/s"
    ),
}


def slots_for(name: str, only: str | None) -> list[str]:
    """Return the server slots scenario ``name`` runs on, in order."""
    sc = JS_SCENARIOS[name]
    slots = [NATSKERN, NS_DEFAULT]
    if sc.storage == "file" and not sc.lazy and sc.always:
        slots.append(NS_ALWAYS)
    if only == NATSKERN:
        slots = [NATSKERN]
    elif only is not None:
        slots = [s for s in slots if s != NATSKERN]
    if nats_server_js_path() is None:
        slots = [s for s in slots if s == NATSKERN]
    return slots


def run_js_scenario(name: str, slot: str, opts: JsOptions) -> JsOutcome:
    """Run JetStream scenario ``name`` on a fresh server of ``slot``; never raises."""
    sc = JS_SCENARIOS[name]
    outcome = JsOutcome(scenario=name, server=slot, unit=sc.unit)
    store: Path | None = None
    try:
        server, store = start_server(slot, opts.workdir, lazy=sc.lazy and slot == NATSKERN)
        with server:
            outcome.value, outcome.note, outcome.details = sc.measure(server, sc.storage, opts)
    except ServerStartError as exc:
        outcome.error = str(exc)
    except Exception as exc:  # a failed setup or worker is reported, never raised
        notes = getattr(exc, "__notes__", [])
        outcome.error = " — ".join([f"{type(exc).__name__}: {exc}", *notes])
    finally:
        if store is not None:
            shutil.rmtree(store, ignore_errors=True)
    return outcome
