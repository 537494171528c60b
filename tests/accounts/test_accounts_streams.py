"""Stream exports and imports, the same scenario on natskern and nats-server (nats-py)."""

from __future__ import annotations

import nats
import pytest
from accounts_helpers import Serve, connect, received, settle, take, users

STREAMS = f"""
accounts {{
  A: {{
    users: {users("a")}
    exports: [
      {{stream: "x.>"}}
      {{stream: "pair.*.*"}}
      {{stream: "only.c", accounts: [C]}}
      {{stream: "renamed.*"}}
    ]
  }}
  B: {{
    users: {users("b")}
    imports: [
      {{stream: {{account: A, subject: "x.>"}}, prefix: "p"}}
      {{stream: {{account: A, subject: "pair.*.*"}}, to: "swapped.$2.{{{{wildcard(1)}}}}"}}
      {{stream: {{account: A, subject: "renamed.one"}}, to: "local.one"}}
    ]
  }}
  C: {{
    users: {users("c")}
    imports: [{{stream: {{account: A, subject: "only.c"}}}}]
  }}
  D: {{ users: {users("d")} }}
}}
"""


async def test_stream_imports_deliver_renamed_and_nothing_else(target: Serve) -> None:
    async with target(STREAMS) as address:
        a, b, c, d = [await connect(address, u) for u in "abcd"]
        subs = {
            name: await nc.subscribe(">") for name, nc in zip("abcd", (a, b, c, d), strict=True)
        }
        await settle(b, c, d)
        await a.publish("x.one", b"1", reply="rep.1")
        await a.publish("pair.1.2", b"2")
        await a.publish("only.c", b"3")
        await a.publish("y.private", b"4")
        await a.publish("renamed.one", b"5")
        await a.publish("renamed.two", b"6")  # exported, but B imports renamed.one only
        assert await take(subs["b"], 3) == [
            ("p.x.one", "rep.1", b"1"),  # the reply subject is passed through untouched
            ("swapped.2.1", "", b"2"),
            ("local.one", "", b"5"),
        ]
        assert await take(subs["c"], 1) == [("only.c", "", b"3")]
        await settle(a, b, c, d)
        for name in "bcd":
            assert await received(subs[name]) == []
        # Nothing flows back: B publishing on the imported subjects stays in B.
        await b.publish("x.one", b"back")
        await b.publish("p.x.one", b"back")
        assert [s for s, _, _ in await take(subs["a"], 6)] == [
            "x.one",
            "pair.1.2",
            "only.c",
            "y.private",
            "renamed.one",
            "renamed.two",
        ]
        await settle(b, a)
        assert await received(subs["a"]) == []
        for nc in (a, b, c, d):
            await nc.close()


async def test_queue_subscribers_of_the_importer_share_imported_messages(target: Serve) -> None:
    async with target(STREAMS) as address:
        a, b = await connect(address, "a"), await connect(address, "b")
        group = [await b.subscribe("p.x.*", queue="q") for _ in range(3)]
        plain = await b.subscribe("p.x.*")
        await settle(b)
        for i in range(30):
            await a.publish("x.n", str(i).encode())
        assert len(await take(plain, 30)) == 30
        # The queue copies were routed with the plain ones, so they are all in by now.
        await settle(b)
        assert sum([len(await received(s)) for s in group]) == 30
        await a.close()
        await b.close()


async def test_request_on_stream_export_without_importing_subscriber_gets_503(
    target: Serve,
) -> None:
    # nats-server has no interest for the import when nobody in B subscribes.
    async with target(STREAMS) as address:
        a = await connect(address, "a")
        with pytest.raises(nats.errors.NoRespondersError):
            await a.request("x.nobody", b"?", timeout=5)
        await a.close()


async def test_imported_stream_passes_service_imports_but_not_stream_exports(target: Serve) -> None:
    # A stream-imported message passes through the importer's service imports (nats-server
    # routes it like a publish in the importing account), but not through its stream exports.
    conf = f"""
    accounts {{
      A: {{ users: {users("a")}, exports: [{{stream: "x.>"}}] }}
      B: {{
        users: {users("b")}
        imports: [
          {{stream: {{account: A, subject: "x.>"}}}}
          {{service: {{account: C, subject: "x.svc.>"}}}}
        ]
        exports: [{{stream: "x.>"}}]
      }}
      C: {{
        users: {users("c")}
        exports: [{{service: "x.svc.>"}}]
        imports: [{{stream: {{account: B, subject: "x.>"}}, prefix: "c"}}]
      }}
    }}
    """
    async with target(conf) as address:
        a, b, c = [await connect(address, u) for u in "abc"]
        sub_b = await b.subscribe(">")
        sub_c = await c.subscribe(">")
        await settle(b, c)
        await a.publish("x.plain", b"1")
        await a.publish("x.svc.call", b"2")
        assert [s for s, _, _ in await take(sub_b, 2)] == ["x.plain", "x.svc.call"]
        # C sees the service request, not the stream messages re-exported by B ...
        assert [s for s, _, _ in await take(sub_c, 1)] == ["x.svc.call"]
        # ... while B's own publishes do reach C through B's stream export.
        await b.publish("x.own", b"3")
        assert [s for s, _, _ in await take(sub_c, 1)] == ["c.x.own"]
        await settle(a, b, c)
        assert await received(sub_c) == []
        for nc in (a, b, c):
            await nc.close()


async def test_in_process_client_of_the_importer_receives_imported_streams() -> None:
    from accounts_helpers import natskern_config

    from tests.support.servers import natskern

    async with natskern(natskern_config(STREAMS)) as broker:
        b = broker.connect(account="B")
        a = broker.connect(account="A")
        sub = await b.subscribe("p.>")
        await a.publish("x.inproc", b"hi")
        msg = await sub.next_msg(timeout=1)
        assert (msg.subject, msg.data) == ("p.x.inproc", b"hi")
        await a.close()
        await b.close()
