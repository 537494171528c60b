"""JetStream API requests for the differential tests, past nats-server's store flake.

nats-server 2.15 now and then refuses a stream create right after another stream's
store was deleted (``error creating store for stream``); a differential exchange asks
such a request again instead of comparing that answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.aio.msg import Msg

__all__ = ["STORE_FLAKE", "api_past_flake", "request_past_flake"]

#: The description of nats-server's occasional store-creation refusal.
STORE_FLAKE = "error creating store for stream"
#: How many times such a request is asked again, and the pause before each.
RETRIES = 4
PAUSE = 0.2


async def request_past_flake(
    nc: nats.NATS, subject: str, data: bytes, headers: dict[str, str] | None = None
) -> Msg:
    """The answer to a request, asked again (up to RETRIES times) while it is the flake."""
    msg = await nc.request(subject, data, timeout=5, headers=headers)
    for _ in range(RETRIES):
        if STORE_FLAKE.encode() not in msg.data:
            break
        await asyncio.sleep(PAUSE)
        msg = await nc.request(subject, data, timeout=5, headers=headers)
    return msg


async def api_past_flake(nc: nats.NATS, subject: str, data: bytes = b"") -> dict[str, Any]:
    """:func:`request_past_flake`'s answer as JSON."""
    answer: dict[str, Any] = json.loads((await request_past_flake(nc, subject, data)).data)
    return answer
