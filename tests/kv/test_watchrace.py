"""``tests/support/watchrace.matches_reference``: a second, fresh nats-server decides a
difference, so a race of the reference's passes and a difference of natskern's fails."""

from __future__ import annotations

import pytest

from tests.support.servers import NATS_SERVER_JS
from tests.support.watchrace import matches_reference

pytestmark = pytest.mark.skipif(NATS_SERVER_JS is None, reason="nats-server 2.15 not installed")


async def test_a_difference_the_fresh_reference_does_not_repeat_passes() -> None:
    calls: list[str] = []

    async def run(url: str) -> list[str]:
        calls.append(url)
        return ["raced"] if url == "nats://reference" else ["right"]

    await matches_reference(run, "nats://natskern", "nats://reference")
    assert calls[:2] == ["nats://reference", "nats://natskern"] and len(calls) == 3
    assert calls[2].startswith("nats://127.0.0.1:")  # (a fresh nats-server's)


async def test_a_difference_of_natskerns_fails() -> None:
    async def run(url: str) -> list[str]:
        return ["wrong"] if url == "nats://natskern" else ["right"]

    with pytest.raises(AssertionError):
        await matches_reference(run, "nats://natskern", "nats://reference")
