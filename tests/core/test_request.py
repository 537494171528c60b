"""Request-reply and no-responders through nats-py (natskern over TCP and the pipe, nats-server)."""

from __future__ import annotations

import nats
import pytest

from tests.support.servers import connect


async def test_request_reply(any_url: str) -> None:
    nc = await connect(any_url)

    async def handler(msg) -> None:
        await msg.respond(b"re: " + msg.data)

    await nc.subscribe("svc.echo", cb=handler)
    for i in range(20):
        reply = await nc.request("svc.echo", str(i).encode(), timeout=2)
        assert reply.data == b"re: " + str(i).encode()
    await nc.close()


async def test_request_to_queue_group_responders(any_url: str) -> None:
    nc = await connect(any_url)
    seen = set()

    def make(i: int):
        async def handler(msg) -> None:
            seen.add(i)
            await msg.respond(str(i).encode())

        return handler

    for i in range(3):
        await nc.subscribe("svc.q", queue="workers", cb=make(i))
    replies = [await nc.request("svc.q", b"", timeout=2) for _ in range(60)]
    assert all(r.data in {b"0", b"1", b"2"} for r in replies)
    assert len(seen) >= 2
    await nc.close()


async def test_no_responders(any_url: str) -> None:
    nc = await connect(any_url)
    with pytest.raises(nats.errors.NoRespondersError):
        await nc.request("nobody.home", b"?", timeout=2)
    await nc.close()


async def test_old_style_request_times_out_without_responders(any_url: str) -> None:
    # without no_responders support the client just times out
    nc = await connect(any_url, no_echo=False)
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish("nobody.here", b"", reply=inbox)
    msg = await sub.next_msg(timeout=2)
    # nats-py negotiates no_responders: the server answers with a 503 status
    assert msg.headers and msg.headers.get("Status") == "503"
    await nc.close()
