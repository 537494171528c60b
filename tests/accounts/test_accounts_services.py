"""Service exports and imports, the same scenario on natskern and nats-server (nats-py)."""

from __future__ import annotations

import json

import nats
import pytest
from accounts_helpers import Serve, connect, natskern_config, received, settle, take, users

from tests.support.servers import natskern

SERVICES = f"""
accounts {{
  A: {{
    users: [
      {{user: a, password: a}}
      {{
        user: r, password: r
        # May publish only replies (and the test's own settle markers).
        permissions: {{publish: "_SETTLE.>", subscribe: ">", allow_responses: true}}
      }}
    ]
    exports: [
      {{service: "svc.>"}}
      {{service: "st.>", response_type: stream}}
      {{service: "pair.*.*"}}
      {{service: "priv.>", accounts: [B]}}
    ]
  }}
  B: {{
    users: {users("b")}
    imports: [
      {{service: {{account: A, subject: "svc.>"}}, to: "local.>"}}
      {{service: {{account: A, subject: "st.>"}}}}
      {{service: {{account: A, subject: "pair.*.*"}}, to: "rev.$2.$1"}}
      {{service: {{account: A, subject: "priv.>"}}}}
    ]
  }}
  C: {{ users: {users("c")} }}
}}
"""


async def test_request_crosses_accounts_and_reply_comes_back(target: Serve) -> None:
    async with target(SERVICES) as address:
        a, b, c = [await connect(address, u) for u in "abc"]
        seen = []

        async def responder(msg) -> None:
            seen.append((msg.subject, msg.reply, msg.headers))
            await msg.respond(b"re: " + msg.data)

        await a.subscribe("svc.>", cb=responder)
        await a.subscribe("pair.>", cb=responder)
        await a.subscribe("priv.>", cb=responder)
        await settle(a)
        assert (await b.request("local.echo", b"hi", timeout=5)).data == b"re: hi"
        assert (await b.request("rev.1.2", b"swap", timeout=5)).data == b"re: swap"
        assert (await b.request("priv.x", b"p", timeout=5)).data == b"re: p"
        assert [s for s, _, _ in seen] == ["svc.echo", "pair.2.1", "priv.x"]
        for _, reply, headers in seen:
            assert reply.startswith("_R_.")  # the requester's inbox never reaches A
            assert json.loads(headers["Nats-Request-Info"])["acc"] == "B"
        # Without the import, C has nobody to talk to; A's subjects are not visible either.
        for subject in ("local.echo", "svc.echo"):
            with pytest.raises(nats.errors.NoRespondersError):
                await c.request(subject, b"?", timeout=5)
        for nc in (a, b, c):
            await nc.close()


async def test_single_response_route_is_used_once(target: Serve) -> None:
    async with target(SERVICES) as address:
        a, b = await connect(address, "a"), await connect(address, "b")
        requests = await a.subscribe("svc.>")
        inbox = b.new_inbox()
        replies = await b.subscribe(inbox)
        await settle(a, b)
        await b.publish("local.once", b"q", reply=inbox)
        [(subject, reply, _)] = await take(requests, 1)
        assert subject == "svc.once"
        for i in range(3):
            await a.publish(reply, str(i).encode())
        assert await take(replies, 1) == [(inbox, "", b"0")]
        await settle(a, b)
        assert await received(replies) == []
        await a.close()
        await b.close()


async def test_stream_responses_all_arrive(target: Serve) -> None:
    async with target(SERVICES) as address:
        a, b = await connect(address, "a"), await connect(address, "b")
        requests = await a.subscribe("st.>")
        inbox = b.new_inbox()
        replies = await b.subscribe(inbox)
        await settle(a, b)
        await b.publish("st.feed", b"q", reply=inbox)
        [(subject, reply, _)] = await take(requests, 1)
        assert subject == "st.feed"
        for i in range(3):
            await a.publish(reply, str(i).encode())
        assert await take(replies, 3) == [(inbox, "", b"0"), (inbox, "", b"1"), (inbox, "", b"2")]
        await a.close()
        await b.close()


async def test_a_response_with_a_reply_is_routed_back_too(target: Serve) -> None:
    async with target(SERVICES) as address:
        a, b = await connect(address, "a"), await connect(address, "b")
        requests = await a.subscribe("svc.>")
        acks = await a.subscribe("ack.1")
        inbox = b.new_inbox()
        replies = await b.subscribe(inbox)
        await settle(a, b)
        await b.publish("local.flow", b"q", reply=inbox)
        [(_, reply, _)] = await take(requests, 1)
        await a.publish(reply, b"chunk", reply="ack.1")
        [(subject, back, data)] = await take(replies, 1)
        assert (subject, data) == (inbox, b"chunk")
        assert back.startswith("_R_.")
        await b.publish(back, b"ack")
        assert await take(acks, 1) == [("ack.1", "", b"ack")]
        await a.close()
        await b.close()


async def test_queue_group_responders_answer_once(target: Serve) -> None:
    async with target(SERVICES) as address:
        a, b = await connect(address, "a"), await connect(address, "b")
        answered = []

        def make(i: int):
            async def responder(msg) -> None:
                answered.append(i)
                await msg.respond(str(i).encode())

            return responder

        for i in range(3):
            await a.subscribe("svc.q", queue="workers", cb=make(i))
        await settle(a)
        for _ in range(20):
            await b.request("local.q", b"", timeout=5)
        assert len(answered) == 20
        await a.close()
        await b.close()


async def test_responder_with_allow_responses_may_answer(target: Serve) -> None:
    async with target(SERVICES) as address:
        r, b = await connect(address, "r"), await connect(address, "b")

        async def responder(msg) -> None:
            await msg.respond(b"allowed")

        await r.subscribe("svc.>", cb=responder)
        await settle(r)
        assert (await b.request("local.perm", b"", timeout=5)).data == b"allowed"
        await r.close()
        await b.close()


NATSCLI_DEV = f"""
accounts {{
  USER: {{
    jetstream: enabled
    users: {users("local")}
    imports: [{{service: {{account: SERVICE, subject: "service.>"}}, to: "imports.SERVICE.>"}}]
  }}
  SERVICE: {{
    jetstream: enabled
    users: {users("service")}
    exports: [{{service: "service.>"}}]
  }}
  SYSTEM: {{ users: {users("system")} }}
}}
system_account: SYSTEM
"""


async def test_natscli_dev_server_accounts(target: Serve) -> None:
    async with target(NATSCLI_DEV) as address:
        service = await connect(address, "service")
        user = await connect(address, "local")

        async def echo(msg) -> None:
            await msg.respond(msg.subject.encode() + b" " + msg.data)

        await service.subscribe("service.>", cb=echo)
        await settle(service)
        reply = await user.request("imports.SERVICE.echo", b"hello", timeout=5)
        assert reply.data == b"service.echo hello"
        # SERVICE's own subjects are not visible to USER directly.
        with pytest.raises(nats.errors.NoRespondersError):
            await user.request("service.echo", b"", timeout=5)
        await service.close()
        await user.close()


async def test_service_import_without_responder_answers_503() -> None:
    """natskern answers 503 at once, as nats-server releases after 2.10 do.

    nats-server 2.9.10 (the installed reference) lets this request time out instead; the
    router counts a service import that reached nobody as no delivery.
    """
    async with natskern(natskern_config(SERVICES)) as broker:
        b = await connect(broker.listen_urls[0].removeprefix("nats://"), "b")
        for subject in ("local.nobody", "st.nobody", "rev.1.2"):
            with pytest.raises(nats.errors.NoRespondersError):
                await b.request(subject, b"?", timeout=5)
        tables = broker.plugin_state["accounts"].tables
        assert len(tables["A"]) == 0  # the routes of undelivered requests are gone
        await b.close()
