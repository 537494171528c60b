"""Embed natskern in an asyncio application that also serves TCP clients (see README)."""

import asyncio

import nats

from natskern import Broker


async def main() -> None:
    async with Broker({"tcp": {"port": 0}}) as broker:  # serves TCP clients too
        app = broker.connect(name="app")  # in-process, no socket

        async def echo_service() -> None:
            sub = await app.subscribe("echo")
            async for msg in sub:
                await msg.respond(msg.data.upper())

        service = asyncio.create_task(echo_service())

        nc = await nats.connect(broker.listen_urls[0])  # a real TCP client
        reply = await nc.request("echo", b"hello", timeout=2)
        print(reply.data)  # b'HELLO'

        answer = await app.request("echo", b"in-process")  # and from inside
        print(answer.data)  # b'IN-PROCESS'

        await nc.close()
        service.cancel()
    # leaving the block drains and closes every client


asyncio.run(main())
