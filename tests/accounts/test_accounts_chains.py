"""Service imports through several accounts, and an account importing its own export."""

from __future__ import annotations

import json

from accounts_helpers import Serve, connect, received, settle, users

CHAIN = f"""
accounts {{
  A: {{
    users: {users("a")}
    exports: [{{service: "svc.>"}}, {{service: "x.>"}}]
    imports: [{{service: {{account: A, subject: "x.>"}}}}]
  }}
  B: {{
    users: {users("b")}
    imports: [{{service: {{account: A, subject: "svc.>"}}}}]
    exports: [{{service: "svc.>"}}]
  }}
  C: {{
    users: {users("c")}
    imports: [{{service: {{account: B, subject: "svc.>"}}, to: "far.>"}}]
  }}
}}
"""


async def test_request_through_two_imports(target: Serve) -> None:
    async with target(CHAIN) as address:
        a, c = await connect(address, "a"), await connect(address, "c")
        infos = []

        async def responder(msg) -> None:
            infos.append(json.loads(msg.headers["Nats-Request-Info"]))
            await msg.respond(b"from A")

        await a.subscribe("svc.>", cb=responder)
        await settle(a)
        assert (await c.request("far.deep", b"", timeout=5)).data == b"from A"
        # The first hop's requester is kept; the account passed through is named.
        [info] = infos
        assert (info["acc"], info["svc"]) == ("C", "B")
        await a.close()
        await c.close()


async def test_own_import_delivers_once_more_without_looping(target: Serve) -> None:
    async with target(CHAIN) as address:
        a, watcher = await connect(address, "a"), await connect(address, "a")
        sub = await watcher.subscribe("x.>")
        await settle(watcher)
        await a.publish("x.1", b"me", reply="back.1")
        got = []
        for _ in range(2):
            msg = await sub.next_msg(timeout=5)
            got.append((msg.subject, msg.reply, msg.data))
        await settle(a, watcher)
        assert await received(sub) == []  # no further copies
        # Once directly, once through the import (the order among subscribers is not fixed).
        assert ("x.1", "back.1", b"me") in got
        [imported] = [m for m in got if m[1] != "back.1"]
        assert imported[0] == "x.1" and imported[1].startswith("_R_.")
        await a.close()
        await watcher.close()
