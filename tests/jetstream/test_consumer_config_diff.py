"""Differential tests of consumer configs: nats-server 2.15.1's answer vs natskern's checks.

Each case creates streams, then sends CONSUMER.CREATE requests (in their three subject
forms and the legacy durable one).  They go to a real nats-server through nats-py raw
requests, and to :func:`natskern.kernel.jetstream.consumercheck.check_create` over a small
model of the account (streams, consumers by name).  The ``config`` (or ``error``) of
every answer must be equal after dropping the answering server's own metadata and a
generated consumer name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from natskern.kernel.jetstream.consumercheck import check_create
from natskern.kernel.jetstream.consumerconfig import ConsumerConfig
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.jetstream.streamrequest import check_create as check_stream
from natskern.kernel.jetstream.wire import to_wire

from tests.support.jsapi import api_past_flake

SEC = 1_000_000_000
MS = 1_000_000
Step = tuple[str, str, bytes]


@dataclass
class Model:
    """The account's streams and consumers, as the engine keeps them."""

    streams: dict[str, StreamConfig] = field(default_factory=dict)
    consumers: dict[str, dict[str, ConsumerConfig]] = field(default_factory=dict)

    def run(self, subject: str, body: bytes) -> dict[str, Any]:
        tokens = subject.split(".")
        try:
            if tokens[2] == "STREAM":
                cfg = check_stream(tokens[4], body, lookup=self.streams.get, functions={})
                self.streams[cfg.name] = cfg
                self.consumers.setdefault(cfg.name, {})
                return {"config": to_wire(cfg)}
            if tokens[3] == "DELETE":
                self.consumers[tokens[4]].pop(tokens[5])
                return {"success": True}
            stream, plan = check_create(
                tokens, body, self.streams.get, lambda s: self.consumers.get(s, {})
            )
        except ApiError as err:
            return {"error": err.to_json()}
        self.consumers[stream][plan.name] = plan.config
        return {"config": to_wire(plan.config)}


def normalise(resp: dict[str, Any]) -> dict[str, Any]:
    """The config (without server metadata, generated name masked) or the error."""
    if "error" in resp:
        return {"error": resp["error"]}
    if "success" in resp:
        return {"success": resp["success"]}
    cfg = dict(resp["config"])
    meta = {
        k: v for k, v in cfg.get("metadata", {}).items() if k not in ("_nats.ver", "_nats.level")
    }
    if meta:
        cfg["metadata"] = meta
    else:
        cfg.pop("metadata", None)
    return {"config": cfg}


def stream(name: str, **fields: Any) -> Step:
    body = {"name": name, "subjects": [f"{name.lower()}.>"], **fields}
    return ("STREAM", f"$JS.API.STREAM.CREATE.{name}", json.dumps(body).encode())


def cc(
    stream_name: str,
    cname: str = "",
    filt: str = "",
    *,
    action: str | None = None,
    raw: str | None = None,
    pedantic: bool = False,
    sname: str | None = None,
    **config: Any,
) -> Step:
    subject = f"$JS.API.CONSUMER.CREATE.{stream_name}"
    if cname:
        subject += f".{cname}"
    if filt:
        subject += f".{filt}"
    req: dict[str, Any] = {
        "stream_name": sname if sname is not None else stream_name,
        "config": config,
    }
    if action is not None:
        req["action"] = action
    if pedantic:
        req["pedantic"] = True
    return ("C", subject, (raw if raw is not None else json.dumps(req)).encode())


def durable(stream_name: str, name: str, **config: Any) -> Step:
    req = {"stream_name": stream_name, "config": config}
    return ("C", f"$JS.API.CONSUMER.DURABLE.CREATE.{stream_name}.{name}", json.dumps(req).encode())


def delete(stream_name: str, name: str) -> Step:
    return ("D", f"$JS.API.CONSUMER.DELETE.{stream_name}.{name}", b"")


S = stream("S")
PULL = {"ack_policy": "explicit"}
PUSH = {"deliver_subject": "dlv.x"}

CASES: dict[str, list[Step]] = {
    "pull-defaults": [S, cc("S", "d1", durable_name="d1", **PULL)],
    "pull-ack-none": [S, cc("S", "c1", ack_policy="none")],
    "pull-ack-all": [S, cc("S", "c1", ack_policy="all", ack_wait=2 * SEC)],
    "push-defaults": [S, cc("S", "p1", **PUSH)],
    "push-explicit": [S, cc("S", "p1", ack_policy="explicit", **PUSH)],
    "nats-py-zeros": [
        S,
        cc(
            "S",
            "z",
            ack_policy="explicit",
            ack_wait=0,
            idle_heartbeat=0,
            inactive_threshold=0,
            max_deliver=0,
        ),
    ],
    "legacy-ephemeral-name": [S, cc("S", name="eph1", ack_policy="none")],
    "legacy-ephemeral-durable": [S, cc("S", durable_name="x")],
    "durable-create": [S, durable("S", "dd", durable_name="dd", ack_policy="explicit")],
    "durable-create-missing": [S, durable("S", "dd", ack_policy="explicit")],
    "durable-create-mismatch": [S, durable("S", "dd", durable_name="ee")],
    "new-durable-mismatch": [S, cc("S", "aa", durable_name="bb")],
    "name-durable-mismatch-legacy": [S, cc("S", "", name="aa", durable_name="bb")],
    "stream-mismatch": [S, cc("S", "c", sname="T")],
    "stream-missing": [S, cc("NOPE", "c")],
    "filter-in-subject": [S, cc("S", "f", "s.a", filter_subject="s.a")],
    "filter-in-subject-mismatch": [S, cc("S", "f", "s.a", filter_subject="s.b")],
    "filter-in-subject-multi": [S, cc("S", "f", "s.a", filter_subjects=["s.a", "s.b"])],
    "filter-subjects": [S, cc("S", "f", filter_subjects=["s.a", "s.b"])],
    "filter-both": [S, cc("S", "f", filter_subject="s.a", filter_subjects=["s.b"])],
    "filter-overlap": [S, cc("S", "f", filter_subjects=["s.*", "s.a"])],
    "filter-empty": [S, cc("S", "f", filter_subjects=["s.a", ""])],
    "filter-invalid": [S, cc("S", "f", filter_subject="s..a")],
    "filter-invalid-multi": [S, cc("S", "f", filter_subjects=["s.a", "s. b"])],
    "deliver-last": [S, cc("S", "c", deliver_policy="last")],
    "deliver-new": [S, cc("S", "c", deliver_policy="new")],
    "deliver-undefined": [S, cc("S", "c", deliver_policy="undefined")],
    "deliver-bogus": [S, cc("S", "c", deliver_policy="most")],
    "deliver-lps-nofilter": [S, cc("S", "c", deliver_policy="last_per_subject")],
    "deliver-lps": [S, cc("S", "c", deliver_policy="last_per_subject", filter_subject="s.>")],
    "deliver-by-seq-missing": [S, cc("S", "c", deliver_policy="by_start_sequence")],
    "deliver-by-seq": [S, cc("S", "c", deliver_policy="by_start_sequence", opt_start_seq=5)],
    "deliver-all-with-seq": [S, cc("S", "c", opt_start_seq=5)],
    "deliver-new-with-time": [
        S,
        cc("S", "c", deliver_policy="new", opt_start_time="2024-01-01T00:00:00Z"),
    ],
    "deliver-by-time": [
        S,
        cc("S", "c", deliver_policy="by_start_time", opt_start_time="2024-01-01T00:00:00.5Z"),
    ],
    "deliver-by-time-missing": [S, cc("S", "c", deliver_policy="by_start_time")],
    "deliver-by-time-seq": [
        S,
        cc(
            "S",
            "c",
            deliver_policy="by_start_time",
            opt_start_time="2024-01-01T00:00:00Z",
            opt_start_seq=2,
        ),
    ],
    "deliver-by-seq-time": [
        S,
        cc(
            "S",
            "c",
            deliver_policy="by_start_sequence",
            opt_start_time="2024-01-01T00:00:00Z",
            opt_start_seq=2,
        ),
    ],
    "bad-time": [S, cc("S", "c", deliver_policy="by_start_time", opt_start_time="yesterday")],
    "ack-bogus": [S, cc("S", "c", ack_policy="some")],
    "replay-original": [S, cc("S", "c", replay_policy="original")],
    "replay-bogus": [S, cc("S", "c", replay_policy="fast")],
    "ack-wait-negative": [S, cc("S", "c", ack_policy="explicit", ack_wait=-1)],
    "backoff": [S, cc("S", "c", ack_policy="explicit", backoff=[SEC, 2 * SEC], max_deliver=3)],
    "backoff-too-long": [
        S,
        cc("S", "c", ack_policy="explicit", backoff=[SEC, 2 * SEC], max_deliver=1),
    ],
    "backoff-negative": [S, cc("S", "c", ack_policy="explicit", backoff=[-1])],
    "backoff-pedantic": [S, cc("S", "c", pedantic=True, ack_policy="explicit", backoff=[SEC])],
    "max-deliver-negative": [S, cc("S", "c", max_deliver=-5)],
    "max-deliver-negative-pedantic": [S, cc("S", "c", pedantic=True, max_deliver=-5)],
    "max-ack-pending-neg": [S, cc("S", "c", ack_policy="explicit", max_ack_pending=-7)],
    "max-ack-pending-unlimited": [S, cc("S", "c", ack_policy="explicit", max_ack_pending=-1)],
    "max-waiting-neg": [S, cc("S", "c", max_waiting=-3)],
    "max-waiting-custom": [S, cc("S", "c", max_waiting=10)],
    "pull-limits": [S, cc("S", "c", max_batch=10, max_expires=5 * SEC, max_bytes=1024)],
    "pull-limits-neg": [S, cc("S", "c", max_batch=-10, max_expires=-5, max_bytes=-1)],
    "pull-max-expires-small": [S, cc("S", "c", max_expires=10)],
    "pull-rate-limit": [S, cc("S", "c", rate_limit_bps=1000)],
    "pull-heartbeat": [S, cc("S", "c", idle_heartbeat=SEC)],
    "pull-flow-control": [S, cc("S", "c", flow_control=True)],
    "push-max-waiting": [S, cc("S", "p", max_waiting=5, **PUSH)],
    "push-wildcard": [S, cc("S", "p", deliver_subject="dlv.*")],
    "push-invalid": [S, cc("S", "p", deliver_subject="dlv..x")],
    "push-cycle": [S, cc("S", "p", deliver_subject="s.x")],
    "push-map-ack-none": [S, cc("S", "p", max_ack_pending=5, **PUSH)],
    "push-small-hb": [S, cc("S", "p", idle_heartbeat=50 * MS, **PUSH)],
    "push-fc-no-hb": [S, cc("S", "p", flow_control=True, **PUSH)],
    "push-fc-hb": [S, cc("S", "p", flow_control=True, idle_heartbeat=SEC, **PUSH)],
    "push-rate-group": [S, cc("S", "p", rate_limit_bps=8000, deliver_group="q", **PUSH)],
    "ordered-like": [
        S,
        cc(
            "S",
            "o",
            ack_policy="none",
            max_deliver=1,
            flow_control=True,
            idle_heartbeat=5 * SEC,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=300 * SEC,
            **PUSH,
        ),
    ],
    "headers-only": [S, cc("S", "c", headers_only=True, description="hi")],
    "description-long": [S, cc("S", "c", description="x" * 5000)],
    "sample": [S, cc("S", "c", ack_policy="explicit", sample_freq="50%")],
    "sample-plain": [S, cc("S", "c", ack_policy="explicit", sample_freq="7")],
    "sample-bad": [S, cc("S", "c", ack_policy="explicit", sample_freq="abc")],
    "sample-neg": [S, cc("S", "c", ack_policy="explicit", sample_freq="-1")],
    "replicas-3": [S, cc("S", "c", num_replicas=3)],
    "replicas-neg": [S, cc("S", "c", num_replicas=-1)],
    "replicas-1": [S, cc("S", "c", num_replicas=1)],
    "metadata": [S, cc("S", "c", metadata={"a": "1", "_nats.ver": "x"})],
    "metadata-long": [S, cc("S", "c", metadata={"a": "x" * (128 * 1024)})],
    "name-bad": [S, cc("S", "", name="a b")],
    "name-path": [S, cc("S", "a\\b")],
    "durable-bad": [
        S,
        cc("S", "", raw=json.dumps({"stream_name": "S", "config": {"durable_name": "a*b"}})),
    ],
    "pause-until": [S, cc("S", "c", pause_until="2099-01-01T00:00:00Z")],
    "priority-overflow": [
        S,
        cc("S", "c", priority_policy="overflow", priority_groups=["A"], **PULL),
    ],
    "priority-no-groups": [S, cc("S", "c", priority_policy="overflow", **PULL)],
    "priority-bad-group": [
        S,
        cc("S", "c", priority_policy="overflow", priority_groups=["a b"], **PULL),
    ],
    "priority-empty-group": [
        S,
        cc("S", "c", priority_policy="overflow", priority_groups=[""], **PULL),
    ],
    "priority-push": [S, cc("S", "c", priority_policy="overflow", priority_groups=["A"], **PUSH)],
    "priority-groups-no-policy": [S, cc("S", "c", priority_groups=["A"])],
    "priority-ttl-no-policy": [S, cc("S", "c", priority_timeout=SEC)],
    "priority-bogus": [S, cc("S", "c", priority_policy="whatever")],
    "action-bogus": [S, cc("S", "c", action="merge")],
    "action-update-missing": [S, cc("S", "c", action="update")],
    "action-create-same": [
        S,
        cc("S", "c", action="create", **PULL),
        cc("S", "c", action="create", **PULL),
    ],
    "action-create-different": [
        S,
        cc("S", "c", action="create", **PULL),
        cc("S", "c", action="create", ack_policy="explicit", description="x"),
    ],
    "update-ok": [
        S,
        cc("S", "c", **PULL),
        cc(
            "S",
            "c",
            ack_policy="explicit",
            description="x",
            max_ack_pending=5,
            ack_wait=5 * SEC,
            filter_subject="s.a",
        ),
    ],
    "update-deliver": [
        S,
        cc("S", "c", **PULL),
        cc("S", "c", ack_policy="explicit", deliver_policy="new"),
    ],
    "update-ack": [S, cc("S", "c", **PULL), cc("S", "c", ack_policy="all")],
    "update-replay": [
        S,
        cc("S", "c", **PULL),
        cc("S", "c", ack_policy="explicit", replay_policy="original"),
    ],
    "update-max-waiting": [
        S,
        cc("S", "c", **PULL),
        cc("S", "c", ack_policy="explicit", max_waiting=5),
    ],
    "update-storage": [
        S,
        cc("S", "c", **PULL),
        cc("S", "c", ack_policy="explicit", mem_storage=True),
    ],
    "update-pull-to-push": [S, cc("S", "c", **PULL), cc("S", "c", ack_policy="explicit", **PUSH)],
    "update-push-to-pull": [S, cc("S", "c", **PUSH), cc("S", "c")],
    "update-push-subject": [S, cc("S", "c", **PUSH), cc("S", "c", deliver_subject="dlv.y")],
    "update-hb": [S, cc("S", "c", **PUSH), cc("S", "c", idle_heartbeat=SEC, **PUSH)],
    "update-start-seq": [
        S,
        cc("S", "c", deliver_policy="by_start_sequence", opt_start_seq=3),
        cc("S", "c", deliver_policy="by_start_sequence", opt_start_seq=4),
    ],
    "update-pause-ignored": [
        S,
        cc("S", "c", **PULL),
        cc("S", "c", ack_policy="explicit", pause_until="2099-01-01T00:00:00Z"),
    ],
    "update-backoff": [
        S,
        cc("S", "c", **PULL),
        cc("S", "c", ack_policy="explicit", backoff=[SEC, SEC], max_deliver=5),
    ],
    "update-durable-same": [
        S,
        durable("S", "d", durable_name="d", **PULL),
        durable("S", "d", durable_name="d", **PULL),
    ],
    "limits-stream": [
        stream("L", consumer_limits={"max_ack_pending": 50, "inactive_threshold": 10 * SEC}),
        cc("L", "c", **PULL),
        cc("L", "c2", ack_policy="explicit", max_ack_pending=100),
        cc("L", "c3", inactive_threshold=20 * SEC),
    ],
    "limits-pedantic": [
        stream("L", consumer_limits={"max_ack_pending": 50}),
        cc("L", "c", pedantic=True, **PULL),
    ],
    "max-consumers": [
        stream("M", max_consumers=1),
        cc("M", "a"),
        cc("M", "b"),
        cc("M", "a", description="ok"),
    ],
    "wq-ack-none": [stream("W", retention="workqueue"), cc("W", "c", ack_policy="none")],
    "wq-push-ack-none": [
        stream("W", retention="workqueue"),
        cc("W", "c", ack_policy="none", **PUSH),
    ],
    "wq-ack-all": [stream("W", retention="workqueue"), cc("W", "c", ack_policy="all")],
    "wq-deliver-new": [
        stream("W", retention="workqueue"),
        cc("W", "c", deliver_policy="new", **PULL),
    ],
    "wq-two-unfiltered": [
        stream("W", retention="workqueue"),
        cc("W", "a", **PULL),
        cc("W", "b", **PULL),
    ],
    "wq-overlap": [
        stream("W", retention="workqueue"),
        cc("W", "a", filter_subject="w.a", **PULL),
        cc("W", "b", filter_subject="w.*", **PULL),
        cc("W", "c", filter_subject="w.b", **PULL),
    ],
    "wq-update-overlap": [
        stream("W", retention="workqueue"),
        cc("W", "a", filter_subject="w.a", **PULL),
        cc("W", "b", filter_subject="w.b", **PULL),
        cc("W", "b", filter_subject="w.a", **PULL),
    ],
    "interest-replicas": [stream("I", retention="interest"), cc("I", "c", num_replicas=1, **PULL)],
    "delete-recreate": [S, cc("S", "c", **PULL), delete("S", "c"), cc("S", "c", ack_policy="none")],
    "invalid-json": [S, cc("S", "c", raw='{"stream_name":"S","config":{"ack_wait":"1s"}}')],
    "invalid-json-syntax": [S, cc("S", "c", raw='{"stream_name":"S",')],
    "invalid-json-backoff": [S, cc("S", "c", raw='{"stream_name":"S","config":{"backoff":[1.5]}}')],
    "empty-body": [S, cc("S", "c", raw="")],
    "legacy-generated": [S, cc("S", ack_policy="none")],
}


async def reference(nc: nats.NATS, subject: str, body: bytes) -> dict[str, Any]:
    """nats-server's answer to one request (a store-creation flake asked again)."""
    return await api_past_flake(nc, subject, body)


async def _reset(nc: nats.NATS) -> None:
    resp = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)
    for name in resp.get("streams") or []:
        await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)


def _mask(resp: dict[str, Any], generated: bool) -> dict[str, Any]:
    if generated and "config" in resp:
        resp["config"]["name"] = "*"
    return resp


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_consumer_config_matches_nats_server(case: str, js_server_url: str) -> None:
    model = Model()
    nc = await nats.connect(js_server_url)
    try:
        await _reset(nc)
        for i, (kind, subject, body) in enumerate(CASES[case]):
            theirs = normalise(await reference(nc, subject, body))
            ours = normalise(model.run(subject, body))
            if kind == "STREAM":
                assert "error" not in theirs and "error" not in ours, (theirs, ours)
                continue
            generated = case == "legacy-generated"
            assert _mask(ours, generated) == _mask(theirs, generated), f"step {i} {subject}"
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "config",
    [
        {
            "ack_policy": "flow_control",
            "deliver_subject": "d",
            "flow_control": True,
            "idle_heartbeat": 1_000_000_000,
            "max_ack_pending": 10,
        },
    ],
)
def test_unsupported_features(config: dict[str, Any]) -> None:
    """Features natskern does not implement are refused, not stored and ignored."""
    model = Model()
    model.run(*stream("S")[1:])
    resp = model.run(*cc("S", "c", **config)[1:])
    assert resp["error"]["err_code"] == 10052
    assert "not supported" in resp["error"]["description"]
