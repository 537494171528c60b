"""A stream whose store a newer natskern wrote is not opened: the server starts, says why in
one log line (no traceback), reports the stream as not recovered, and serves the others."""

from __future__ import annotations

import logging
from pathlib import Path

import nats
import pytest
from natskern.plugins.storage.filelog.formatmark import FORMAT_KEY, STORE_FORMAT
from natskern.plugins.storage.filelog.meta import write_meta_copy

from tests.jetstream.test_api_e2e import jetstream_broker


def _log_dir(store: Path, stream: str) -> Path:
    return next(p.parent for p in store.rglob("*.blk") if p.parent.name == stream)


async def test_a_newer_store_format_is_reported_and_the_rest_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with jetstream_broker(tmp_path) as (broker, _):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        for name in ("NEW", "OK"):
            await js.add_stream(name=name, subjects=[f"{name.lower()}.>"])
            await js.publish(f"{name.lower()}.1", b"x")
        await nc.close()
    write_meta_copy(str(_log_dir(tmp_path, "NEW")), FORMAT_KEY, 99, b"%d" % (STORE_FORMAT + 1))
    caplog.set_level(logging.ERROR, logger="natskern")
    async with jetstream_broker(tmp_path) as (broker, js_engine):
        nc = await nats.connect(broker.listen_urls[0])
        js = nc.jetstream()
        assert (await js.stream_info("OK")).state.messages == 1
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.stream_info("NEW")
        await nc.close()
        unrecovered = {
            n: why for a in js_engine.accounts.values() for n, why in a.unrecovered.items()
        }
        assert list(unrecovered) == ["NEW"] and "newer than" in unrecovered["NEW"]
    lines = [r for r in caplog.records if "could not recover stream 'NEW'" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "newer than this natskern reads" in lines[0].getMessage()
