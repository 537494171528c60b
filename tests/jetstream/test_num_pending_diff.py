"""A new consumer's ``num_pending`` for filters from a middle sequence: natskern vs nats-server.

The same seeded stream (30 subjects, message deletions, a subject purge with
``keep`` and a purge up to a sequence) goes to nats-server 2.15.1 and to an
in-process natskern whose per-block subject counts use 16-sequence blocks (so a
few thousand messages span hundreds of them; once with every block through its
summary, once with few subjects counted in place); then consumers with literal,
partial-wildcard and whole-stream filters from random start sequences, and
``last_per_subject`` ones, are created on both through raw
``$JS.API.CONSUMER.CREATE`` requests, and their ``num_pending`` must be the
same on both and equal to a naive count over the messages left.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import nats
import pytest
from natskern.kernel.store import subjectcount
from natskern.kernel.subjects.tokens import matches

from tests.jetstream.test_api_e2e import jetstream_broker

SUBJECTS = [f"np.{a}.{b}" for a in range(5) for b in range(6)]
FILTERS = ["np.2.*", "np.*.3", "np.1.4", "np.>", "np.*.*", "np.4.*", "np.0.0"]
N = 2500


async def _api(nc: nats.NATS, subject: str, body: Any) -> dict[str, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    msg = await nc.request(f"$JS.API.{subject}", data, timeout=10)
    return json.loads(msg.data)


async def _fill(nc: nats.NATS, stream: str, subjects: list[str]) -> None:
    """Create the stream and publish ``subjects`` in order (acknowledged)."""
    info = await _api(nc, f"STREAM.CREATE.{stream}", {"name": stream, "subjects": ["np.>"]})
    assert "error" not in info, info
    js = nc.jetstream()
    for lo in range(0, len(subjects), 500):
        futs = [await js.publish_async(s, b"x") for s in subjects[lo : lo + 500]]
        await asyncio.gather(*futs)


def _naive(model: dict[int, str], flt: str, start: int, last_per_subject: bool) -> int:
    pat = flt.encode()
    if not last_per_subject:
        return sum(1 for q, s in model.items() if q >= start and matches(pat, s.encode()))
    lasts: dict[str, int] = {}
    for q, s in model.items():
        lasts[s] = q
    return sum(1 for s, q in lasts.items() if q >= start and matches(pat, s.encode()))


async def _pending(nc: nats.NATS, stream: str, name: str, cfg: dict[str, Any]) -> int:
    body = {"stream_name": stream, "config": {"name": name, "ack_policy": "explicit", **cfg}}
    info = await _api(nc, f"CONSUMER.CREATE.{stream}.{name}", body)
    assert "error" not in info, info
    n: int = info["num_pending"]
    assert (await _api(nc, f"CONSUMER.DELETE.{stream}.{name}", None)).get("success")
    return n


async def _consumers(nc: nats.NATS, name: str, model: dict[int, str], label: str) -> list[int]:
    """Create the test's consumers (the same on every server); their ``num_pending``."""
    rnd = random.Random(5)
    out = []
    for k in range(30):
        flt = FILTERS[k % len(FILTERS)]
        start = rnd.randrange(150, N + 20)
        cfg = {"filter_subject": flt, "deliver_policy": "by_start_sequence"}
        got = await _pending(nc, name, f"c{k}", {**cfg, "opt_start_seq": start})
        assert got == _naive(model, flt, start, False), (label, flt, start)
        out.append(got)
    for k, flt in enumerate(FILTERS):
        cfg = {"filter_subject": flt, "deliver_policy": "last_per_subject"}
        got = await _pending(nc, name, f"l{k}", cfg)
        assert got == _naive(model, flt, 0, True), (label, flt)
        out.append(got)
    return out


@pytest.mark.parametrize("few", [subjectcount.FEW, 0])
async def test_num_pending_from_a_middle_sequence_matches_nats_server(
    js_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    monkeypatch.setattr(subjectcount, "SHIFT", 4)
    monkeypatch.setattr(subjectcount, "FEW", few)  # 0: every full block through a summary
    name = f"NP{few}"  # the nats-server is the module's: a stream of each test's own
    rnd = random.Random(12)
    subjects = [rnd.choice(SUBJECTS) for _ in range(N)]
    model = {i + 1: s for i, s in enumerate(subjects)}
    deletes = rnd.sample(range(1, N + 1), 150)
    for q in deletes:
        del model[q]
    # Purge np.3.1 but keep its last 5; then everything below 200.
    kept = [q for q, s in model.items() if s == "np.3.1"][-5:]
    model = {q: s for q, s in model.items() if s != "np.3.1" or q in kept}
    model = {q: s for q, s in model.items() if q >= 200}
    # After the first consumers (their counts summarised the blocks): more removals.
    later = rnd.sample(sorted(model), 120)
    model2 = {q: s for q, s in model.items() if q not in later and s != "np.2.2"}
    async with jetstream_broker(tmp_path) as (broker, _):
        counts: dict[str, list[int]] = {}
        ncs = [await nats.connect(js_server_url), await nats.connect(broker.listen_urls[0])]
        try:
            for label, nc in zip(("nats-server", "natskern"), ncs, strict=True):
                await _fill(nc, name, subjects)
                for q in deletes:
                    info = await _api(nc, f"STREAM.MSG.DELETE.{name}", {"seq": q})
                    assert info.get("success"), info
                await _api(nc, f"STREAM.PURGE.{name}", {"filter": "np.3.1", "keep": 5})
                await _api(nc, f"STREAM.PURGE.{name}", {"seq": 200})
                out = await _consumers(nc, name, model, label)
                for q in later:
                    info = await _api(nc, f"STREAM.MSG.DELETE.{name}", {"seq": q})
                    assert info.get("success"), info
                await _api(nc, f"STREAM.PURGE.{name}", {"filter": "np.2.2"})
                out += await _consumers(nc, name, model2, label)
                counts[label] = out
                assert (await _api(nc, f"STREAM.DELETE.{name}", None)).get("success")
        finally:
            for nc in ncs:
                await nc.close()
    assert counts["natskern"] == counts["nats-server"]
    assert any(0 < c < len(model) for c in counts["natskern"])
