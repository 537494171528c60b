"""Differential tests of stream configs: nats-server 2.15.1's answer vs natskern's validator.

Each case is a few STREAM.CREATE / STREAM.UPDATE requests.  They go to a real
nats-server through nats-py, and to the in-process validator (with a small account
model standing in for the engine: existing streams, overlap, idempotent create).  The
``config`` (or ``error``) of every answer must be equal after dropping what is the
server's own (``_nats.ver``, ``_nats.level``).

Left out on purpose: features natskern refuses (counters, atomic/fast batches,
schedules, async persistence: see ``test_unsupported_features``), account-limit
cases, and placement by cluster or tags (decided by the cluster state).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.streamconfig import StreamConfig, set_dynamic_metadata
from natskern.kernel.jetstream.streamrequest import (
    check_create,
    check_create_sources,
    check_update,
    check_update_request,
    finish_update,
    same_config,
    subjects_overlap,
)
from natskern.kernel.jetstream.wire import to_wire

from tests.support.jsapi import request_past_flake

Body = dict[str, Any] | str

SEC = 1_000_000_000


@dataclass
class Model:
    """The account's streams, as the engine will keep them."""

    functions: dict[str, Any]
    streams: dict[str, StreamConfig] = field(default_factory=dict)

    def _options(self) -> dict[str, Any]:
        return {"lookup": self.streams.get, "functions": self.functions}

    def _others(self, name: str) -> list[list[str]]:
        return [s.subjects for n, s in self.streams.items() if n != name]

    def create(self, name: str, body: bytes) -> StreamConfig:
        cfg = check_create(name, body, **self._options())
        old = self.streams.get(cfg.name)
        if old is not None:
            if same_config(cfg, old):
                return old
            raise E.STREAM_NAME_EXIST()
        check_create_sources(cfg, self.functions)
        if subjects_overlap(cfg.subjects, self._others(cfg.name)):
            raise E.STREAM_SUBJECT_OVERLAP()
        self.streams[cfg.name] = cfg
        return cfg

    def update(self, name: str, body: bytes) -> StreamConfig:
        cfg, pedantic = check_update_request(name, body, **self._options())
        old = self.streams.get(name)
        if old is None:
            raise E.STREAM_NOT_FOUND()
        new = check_update(old, cfg, pedantic=pedantic, **self._options())
        if subjects_overlap(new.subjects, self._others(name)):
            raise E.STREAM_SUBJECT_OVERLAP()
        finish_update(new, self.functions)
        self.streams[name] = new
        return new

    def run(self, op: str, name: str, body: bytes) -> dict[str, Any]:
        try:
            cfg = getattr(self, op)(name, body)
        except ApiError as err:
            return {"error": err.to_json()}
        return {"config": to_wire(set_dynamic_metadata(cfg, "x"))}


def normalise(resp: dict[str, Any]) -> dict[str, Any]:
    """Only the config or the error, without the answering server's own metadata."""
    if "error" in resp:
        return {"error": resp["error"]}
    cfg = dict(resp["config"])
    meta = {
        k: v for k, v in cfg.get("metadata", {}).items() if k not in ("_nats.ver", "_nats.level")
    }
    cfg["metadata"] = meta
    return {"config": cfg}


def encode(body: Body) -> bytes:
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def create(name: str, body: Body | None = None, **fields: Any) -> tuple[str, str, bytes]:
    return ("create", name, encode(body if body is not None else {"name": name, **fields}))


def update(name: str, body: Body | None = None, **fields: Any) -> tuple[str, str, bytes]:
    return ("update", name, encode(body if body is not None else {"name": name, **fields}))


C = create
U = update
LONG = "x" * 256
ORIGIN = C("ORIGIN", subjects=["origin.>"], max_msg_size=1000, allow_direct=True)

CASES: dict[str, list[tuple[str, str, bytes]]] = {
    # -- defaults and plain values
    "minimal": [C("MIN")],
    "max-age-sets-window": [C("AGE", subjects=["age.*"], max_age=SEC)],
    "limits": [
        C(
            "LIM",
            max_msgs=10,
            max_bytes=1024,
            max_msgs_per_subject=2,
            max_msg_size=512,
            max_consumers=5,
            discard="new",
            storage="memory",
        )
    ],
    "discard-upper-case": [C("DUP", discard="NEW")],
    "negative-limits-fixed": [C("NEG", max_msgs=-5, max_bytes=-7, max_consumers=-3)],
    "negative-limits-pedantic": [C("NEGP", max_msgs=-5, pedantic=True)],
    "pedantic-window-over-age": [C("PWA", max_age=SEC, pedantic=True)],
    "description-metadata": [C("DESC", description="d", metadata={"a": "b", "_nats.ver": "9"})],
    "compression-s2": [C("S2", compression="s2")],
    "first-seq": [C("FSEQ", first_seq=100)],
    "consumer-limits": [
        C("CL", consumer_limits={"inactive_threshold": SEC, "max_ack_pending": 10})
    ],
    "workqueue": [C("WQ", retention="workqueue")],
    "no-ack": [C("NOACK", no_ack=True)],
    "allow-direct": [C("AD", allow_direct=True, allow_rollup_hdrs=True, deny_delete=True)],
    "msg-ttl": [C("TTL", allow_msg_ttl=True)],
    "marker-ttl": [C("MTTL", subject_delete_marker_ttl=SEC)],
    "marker-ttl-deny-purge": [C("MTTLP", subject_delete_marker_ttl=SEC, deny_purge=True)],
    "marker-ttl-small": [C("MTTLS", subject_delete_marker_ttl=SEC // 2)],
    "marker-ttl-negative": [C("MTTLN", subject_delete_marker_ttl=-1)],
    "marker-ttl-pedantic": [C("MTTLQ", subject_delete_marker_ttl=SEC, pedantic=True)],
    "placement-empty": [C("PLE", placement={})],
    "placement-preferred": [C("PLP", placement={"preferred": "srv"})],
    # -- ranges
    "max-age-negative": [C("MAN", max_age=-1)],
    "max-age-small": [C("MAS", max_age=SEC // 20)],
    "window-negative": [C("WN", duplicate_window=-1)],
    "window-small": [C("WS", duplicate_window=SEC // 20)],
    "window-over-age": [C("WOA", max_age=SEC, duplicate_window=2 * SEC)],
    "replicas-3": [C("R3", num_replicas=3)],
    "replicas-6": [C("R6", num_replicas=6)],
    "replicas-negative": [C("RN", num_replicas=-1)],
    "rollup-deny-purge": [C("RDP", allow_rollup_hdrs=True, deny_purge=True)],
    "dnps-needs-discard-new": [C("DN1", discard_new_per_subject=True, max_msgs_per_subject=1)],
    "dnps-needs-per-subject": [C("DN2", discard_new_per_subject=True, discard="new")],
    "dnps-valid": [C("DN3", discard_new_per_subject=True, discard="new", max_msgs_per_subject=1)],
    # -- names and request shape
    "name-mismatch": [C("NM1", {"name": "NM2"})],
    "name-too-long": [C(LONG)],
    "name-path-separator": [C("a\\b")],
    "description-too-long": [C("DTL", description="d" * 4097)],
    "metadata-too-large": [C("MTL", metadata={"k": "v" * (128 * 1024)})],
    "sealed-create": [C("SEAL", sealed=True)],
    "mirror-direct-no-mirror": [C("MDN", mirror_direct=True)],
    "empty-body": [C("EMPTY", "")],
    "null-body": [C("NULLB", "null")],
    "case-insensitive-keys": [C("CIK", '{"NAME":"CIK","Max_Msgs":5}')],
    "null-fields": [C("NF", '{"name":"NF","max_msgs":null,"subjects":null,"mirror":null}')],
    "repeated-keys": [C("RK", '{"name":"RK","subjects":["a1"],"subjects":["b1"]}')],
    "unknown-fields": [C("UF", '{"name":"UF","bogus":1,"placement":{"zone":"x"}}')],
    "two-documents": [C("TWO", '{"name":"TWO"} {"max_msgs":3}')],
    "two-documents-unknown": [C("TWOU", '{"name":"TWOU","x":1} {"max_msgs":3}')],
    # -- malformed JSON
    "json-garbage": [C("JG", "x")],
    "json-truncated": [C("JT", '{"name":"JT",')],
    "json-trailing": [C("JTR", '{"name":"JTR"}x')],
    "json-bad-number": [C("JBN", '{"name":"JBN","max_msgs":01}')],
    "json-string-for-int": [C("JSI", '{"name":"JSI","max_msgs":"5"}')],
    "json-float-for-int": [C("JFI", '{"name":"JFI","max_msgs":1.5}')],
    "json-int32-overflow": [C("JIO", '{"name":"JIO","max_msg_size":3000000000}')],
    "json-uint-negative": [C("JUN", '{"name":"JUN","first_seq":-1}')],
    "json-array-elem": [C("JAE", '{"name":"JAE","subjects":[1]}')],
    "json-nested-type": [
        C("JNT", '{"name":"JNT","sources":[{"name":"x","subject_transforms":[{"src":1}]}]}')
    ],
    "json-struct-type": [C("JST", '{"name":"JST","placement":"x"}')],
    "json-bad-retention": [C("JBR", '{"name":"JBR","retention":"x","max_msgs":"y"}')],
    "json-retention-raw": [C("JRR", '{"name":"JRR","retention":{"a": 1}}')],
    "json-null-storage": [C("JNS", '{"name":"JNS","storage":null}')],
    "json-bad-compression": [C("JBC", '{"name":"JBC","compression":"S2"}')],
    "json-compression-number": [C("JCN", '{"name":"JCN","compression":1}')],
    "json-top-array": [C("JTA", "[]")],
    "json-bad-time": [
        C("JBT", {"name": "JBT", "mirror": {"name": "O", "opt_start_time": "2020-01-01T00:00:00"}})
    ],
    "json-bad-escape": [C("JBE", '{"name":"JBE\\q"}')],
    # -- subjects
    "subjects-overlap-own": [C("SO", subjects=["so.*", "so.b"])],
    "subjects-duplicate": [C("SD", subjects=["sd", "sd"])],
    "subjects-invalid": [C("SI", subjects=["a..b"])],
    "subjects-null-entry": [C("SN", '{"name":"SN","subjects":[null]}')],
    "subjects-all-needs-no-ack": [C("ALL", subjects=[">"])],
    "subjects-js-api": [C("SJ", subjects=["$JS.API.foo"])],
    "subjects-js-api-no-ack": [C("SJN", subjects=["$JS.API.foo"], no_ack=True)],
    "subjects-js-event": [C("SJE", subjects=["$JS.EVENT.x"])],
    "subjects-jsc": [C("SJC", subjects=["$JSC.>"])],
    "subjects-nrg": [C("SNR", subjects=["$NRG.x"])],
    "subjects-sys": [C("SYS", subjects=["$SYS.x"])],
    "subjects-sys-account": [C("SYA", subjects=["$SYS.ACCOUNT.x"])],
    "subjects-wildcard-js": [C("SWJ", subjects=["*.API.x"])],
    "overlap-other-stream": [C("OV1", subjects=["ov.*"]), C("OV2", subjects=["ov.a"])],
    "create-idempotent": [C("IDEM", subjects=["idem"]), C("IDEM", subjects=["idem"])],
    "create-different": [C("IDD", subjects=["idd"]), C("IDD", subjects=["idd"], max_msgs=3)],
    # -- transforms and republish
    "transform-valid": [
        C("TV", subjects=["in.*"], subject_transform={"src": "in.*", "dest": "out.$1"})
    ],
    "transform-function": [
        C(
            "TF",
            subjects=["tf.*.*"],
            subject_transform={"src": "tf.*.*", "dest": "x.{{wildcard(2)}}.{{wildcard(1)}}"},
        )
    ],
    "transform-bad-source": [C("TBS", subject_transform={"src": "a..b", "dest": "x"})],
    "transform-unknown-function": [
        C("TUF", subject_transform={"src": "a.*", "dest": "x.{{nope(1)}}"})
    ],
    "transform-index-range": [C("TIR", subject_transform={"src": "a.*", "dest": "x.$2"})],
    "transform-dest-wildcard": [C("TDW", subject_transform={"src": "a.*", "dest": "x.*"})],
    "transform-empty-token": [C("TET", subject_transform={"src": "a.*", "dest": "x..$1"})],
    "republish-valid": [
        C("RV", subjects=["rv.>"], republish={"src": "rv.>", "dest": "rp.>", "headers_only": True})
    ],
    "republish-default-src": [C("RDS", subjects=["rds"], republish={"dest": "out.rds"})],
    "republish-cycle": [C("RC", subjects=["rc.>"], republish={"src": "rc.>", "dest": "rc.x"})],
    "republish-implicit": [
        C(
            "RI",
            subjects=["ri.*"],
            subject_transform={"src": "ri.*", "dest": "rio.$1"},
            republish={"src": ">", "dest": ">"},
        )
    ],
    "republish-empty-dest": [C("RED", subjects=["red"], republish={"src": "red"})],
    # -- mirrors and sources
    "mirror-minimal": [C("M1", mirror={"name": "NOWHERE"})],
    "mirror-existing": [
        ORIGIN,
        C("M2", mirror={"name": "ORIGIN", "opt_start_time": "2020-01-01T00:00:00.500+02:00"}),
    ],
    "mirror-msg-size": [ORIGIN, C("M3", mirror={"name": "ORIGIN"}, max_msg_size=10)],
    "mirror-with-subjects": [C("M4", mirror={"name": "O"}, subjects=["m4"])],
    "mirror-with-sources": [C("M5", mirror={"name": "O"}, sources=[{"name": "P"}])],
    "mirror-first-seq": [C("M6", mirror={"name": "O"}, first_seq=5)],
    "mirror-bad-name": [C("M7", mirror={"name": "a.b"})],
    "mirror-filter-and-transforms": [
        C(
            "M8",
            mirror={
                "name": "O",
                "filter_subject": "a",
                "subject_transforms": [{"src": "b", "dest": "c"}],
            },
        )
    ],
    "mirror-transforms-overlap": [
        C(
            "M9",
            mirror={
                "name": "O",
                "subject_transforms": [{"src": "a.*", "dest": "b.$1"}, {"src": "a.x", "dest": "c"}],
            },
        )
    ],
    "mirror-transform-bad-source": [
        C("M10", mirror={"name": "O", "subject_transforms": [{"src": "a..b", "dest": "c"}]})
    ],
    "mirror-bad-filter": [C("M11", mirror={"name": "O", "filter_subject": "a..b"})],
    "mirror-marker-ttl": [C("M12", mirror={"name": "O"}, subject_delete_marker_ttl=SEC)],
    "mirror-external": [
        C("M13", mirror={"name": "O", "external": {"api": "$JS.hub.API", "deliver": "dlv"}})
    ],
    "mirror-external-api-overlap": [C("M14", mirror={"name": "O", "external": {"api": "$JS.API"}})],
    "mirror-external-wild-deliver": [
        C("M15", mirror={"name": "O", "external": {"api": "x", "deliver": "d.*"}})
    ],
    "mirror-external-wild-api": [C("M16", mirror={"name": "O", "external": {"api": "x.*"}})],
    "sources-valid": [
        C(
            "SRC1",
            sources=[
                {"name": "A", "filter_subject": "a.>"},
                {"name": "B", "subject_transforms": [{"src": "b.*", "dest": "bb.$1"}]},
            ],
        )
    ],
    "sources-duplicate": [C("SRC2", sources=[{"name": "A"}, {"name": "A"}])],
    "sources-bad-name": [C("SRC3", sources=[{"name": "a b"}])],
    "sources-null": [C("SRC4", '{"name":"SRC4","sources":[null]}')],
    "sources-filter-and-transforms": [
        C(
            "SRC5",
            sources=[
                {
                    "name": "A",
                    "filter_subject": "a",
                    "subject_transforms": [{"src": "b", "dest": "c"}],
                }
            ],
        )
    ],
    "sources-transform-bad-dest": [
        C("SRC6", sources=[{"name": "A", "subject_transforms": [{"src": "a.*", "dest": "x.*"}]}])
    ],
    "sources-transforms-overlap": [
        C(
            "SRC7",
            sources=[
                {
                    "name": "A",
                    "subject_transforms": [
                        {"src": "a.*", "dest": "x.$1"},
                        {"src": "a.b", "dest": "y"},
                    ],
                }
            ],
        )
    ],
    "sources-bad-filter": [C("SRC8", sources=[{"name": "A", "filter_subject": "a..b"}])],
    "sources-msg-size": [ORIGIN, C("SRC9", sources=[{"name": "ORIGIN"}], max_msg_size=10)],
    "sources-cycle": [
        C("CA", subjects=["ca"], sources=[{"name": "CB"}]),
        C("CB", subjects=["cb"], sources=[{"name": "CA"}]),
    ],
    "sources-with-subjects": [C("SRC10", subjects=["s10"], sources=[{"name": "A"}])],
    # -- updates
    "update-limits": [C("UL"), U("UL", max_msgs=5, subjects=["ul.*"], max_age=10 * SEC)],
    "update-missing": [U("UMISS")],
    "update-invalid-before-missing": [U("UINV", max_age=-1)],
    "update-name-mismatch": [C("UNM"), U("UNM", {"name": "UNM2"})],
    "update-storage": [C("UST"), U("UST", storage="memory")],
    "update-retention-interest": [C("URI"), U("URI", retention="interest")],
    "update-retention-workqueue": [C("URW"), U("URW", retention="workqueue")],
    "update-seal": [
        C("USE", max_age=10 * SEC, allow_rollup_hdrs=True),
        U("USE", sealed=True, max_age=10 * SEC, allow_rollup_hdrs=True),
        U("USE", max_age=10 * SEC),
    ],
    "update-deny-delete": [C("UDD", deny_delete=True), U("UDD")],
    "update-deny-purge": [C("UDP", deny_purge=True), U("UDP")],
    "update-ttl-disable": [C("UTD", allow_msg_ttl=True), U("UTD")],
    "update-ttl-enable": [C("UTE"), U("UTE", allow_msg_ttl=True)],
    "update-replicas": [C("URP"), U("URP", num_replicas=3)],
    "update-mirror": [C("UMI", mirror={"name": "O"}), U("UMI", mirror={"name": "P"})],
    "update-mirror-promote": [C("UMP", mirror={"name": "O"}), U("UMP", subjects=["ump"])],
    "update-overlap": [
        C("UO1", subjects=["uo1"]),
        C("UO2", subjects=["uo2"]),
        U("UO2", subjects=["uo1"]),
    ],
    "update-dnps": [
        C("UDN", discard="new", max_msgs_per_subject=1),
        U("UDN", discard="new", discard_new_per_subject=True),
    ],
    "update-pedantic": [C("UPD"), U("UPD", max_msgs=-3, pedantic=True)],
    "update-bad-json": [C("UBJ"), U("UBJ", '{"name":"UBJ","max_msgs":"x"}')],
    "update-republish-empty": [
        C("URE"),
        U("URE", republish={}),
        U("URE", republish={"src": "x.*"}),
    ],
    "update-metadata": [C("UMD", metadata={"a": "1"}), U("UMD", metadata={"b": "2"})],
}


#: Malformed bodies: Go's syntax errors (nats-server 2.15.1's wording).
SYNTAX = [
    '{"name":"z\\q"}',
    '{"a":"\\u12"}',
    '{"a":"\\u12x"}',
    '{"a":1.}',
    '{"a":1.x}',
    '{"a":-}',
    '{"a":1e}',
    '{"a":1e+}',
    '{"a":tru}',
    '{"a":trux}',
    '{"a":nul}',
    '{"a":fals}',
    '{"a" 1}',
    '{"a":1 2}',
    "[1 2]",
    "{1:2}",
    '{"a":"\x01"}',
    '{"a":1,}',
    "[1,]",
    "{}}",
    '{"a":"x',
    '{"a":',
    "1.",
    "-",
    "\u00e9",
    '{"a":[1,2}',
    '{"a":{"b":1]}',
    "nulll",
    "tx",
    '{"name":"z"} {"x":1}',
    '{"name":"z"} [',
    "  {  ",
    "{\"a\":'x'}",
]
for i, body in enumerate(SYNTAX):
    CASES[f"syntax-{i}"] = [C("SYN", body)]


async def _delete_all(nc: nats.NATS) -> None:
    resp = json.loads((await nc.request("$JS.API.STREAM.NAMES", b"", timeout=5)).data)
    names = resp.get("streams") or []
    for name in names:
        await nc.request(f"$JS.API.STREAM.DELETE.{name}", b"", timeout=5)
    if names:  # (a create right after deletions is what nats-server now and then refuses)
        await asyncio.sleep(0.2)


async def reference(nc: nats.NATS, op: str, name: str, body: bytes) -> dict[str, Any]:
    """nats-server's normalised answer to one request."""
    msg = await request_past_flake(nc, f"$JS.API.STREAM.{op.upper()}.{name}", body)
    return normalise(json.loads(msg.data))


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
async def test_stream_config_matches_nats_server(
    case: str, js_server_url: str, mapping_functions: dict[str, Any]
) -> None:
    model = Model(mapping_functions)
    nc = await nats.connect(js_server_url)
    try:
        await _delete_all(nc)
        for i, (op, name, body) in enumerate(CASES[case]):
            theirs = await reference(nc, op, name, body)
            ours = normalise(model.run(op, name, body))
            assert ours == theirs, f"step {i} ({op} {name})"
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "field,value",
    [
        ("allow_msg_counter", True),
        ("allow_atomic", True),
        ("allow_msg_schedules", True),
        ("allow_batched", True),
        ("persist_mode", "async"),
    ],
)
def test_unsupported_features(field: str, value: object, mapping_functions: dict[str, Any]) -> None:
    """Features above natskern's API level are refused, not stored and ignored."""
    model = Model(mapping_functions)
    body = {"name": "X", field: value}
    if field == "allow_msg_schedules":
        body["allow_rollup_hdrs"] = True
    resp = model.run("create", "X", encode(body))
    assert resp["error"]["err_code"] == 10052
    assert "not supported" in resp["error"]["description"]
