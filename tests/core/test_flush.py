"""When queued output is written: once per loop iteration, or at once after a big read.

Sessions here sit on a recording transport (the broker's own sessions, fed bytes as the
event loop would feed them), so what is written, and when, is seen exactly.
"""

from __future__ import annotations

import asyncio

from natskern.kernel.core.client import FLUSH_AFTER_READ, FLUSH_PENDING

from natskern import Broker
from tests.support.servers import natskern
from tests.support.transport import RecordingTransport

NO_CHECKS = b'CONNECT {"verbose":false,"pedantic":false}\r\n'


def session(broker: Broker, *lines: bytes) -> tuple:
    transport = RecordingTransport()
    client = broker.accept(transport)
    assert client is not None
    client.data_received(NO_CHECKS + b"".join(lines))
    return client, transport


def pubs(subject: bytes, total_bytes: int) -> tuple[bytes, int]:
    frame = b"PUB %s 16\r\n0123456789abcdef\r\n" % subject
    count = total_bytes // len(frame) + 1
    return frame * count, count


async def test_small_reads_are_flushed_together_at_the_end_of_the_iteration() -> None:
    async with natskern() as broker:
        _, sub_out = session(broker, b"SUB s 1\r\n")
        await asyncio.sleep(0.01)
        sub_out.writes.clear()
        pub, _ = session(broker)
        for _ in range(3):
            pub.data_received(b"PUB s 2\r\nhi\r\n")
        assert sub_out.writes == []  # nothing yet: the loop has not finished its iteration
        await asyncio.sleep(0.01)
        assert sub_out.writes == [b"MSG s 1 2\r\nhi\r\n" * 3]


async def test_a_big_read_is_written_out_before_the_next_read() -> None:
    async with natskern() as broker:
        _, sub_out = session(broker, b"SUB big.* 1\r\n")
        await asyncio.sleep(0.01)
        sub_out.writes.clear()
        pub, _ = session(broker)
        # Two subjects in turn, so the messages take the per-message path.
        data = b""
        count = 0
        while len(data) < max(FLUSH_AFTER_READ, FLUSH_PENDING) + 1024:
            data += b"PUB big.a 16\r\n0123456789abcdef\r\nPUB big.b 16\r\n0123456789abcdef\r\n"
            count += 2
        pub.data_received(data)
        written = b"".join(sub_out.writes)
        assert written.count(b"MSG big.") == count  # already written, without a loop turn
        assert written.startswith(b"MSG big.a 1 16\r\n0123456789abcdef\r\nMSG big.b 1 16\r\n")


async def test_a_big_read_feeding_little_output_waits_for_the_iteration() -> None:
    async with natskern() as broker:
        _, sub_out = session(broker, b"SUB rare 1\r\n")
        await asyncio.sleep(0.01)
        sub_out.writes.clear()
        pub, _ = session(broker)
        noise, _ = pubs(b"nobody", FLUSH_AFTER_READ * 2)
        pub.data_received(noise + b"PUB rare 1\r\nx\r\n")
        assert sub_out.writes == []
        await asyncio.sleep(0.01)
        assert sub_out.writes == [b"MSG rare 1 1\r\nx\r\n"]
