"""Object-store test fixtures: natskern with JetStream and nats-server 2.15.1 (tests/support)."""

from tests.support.jetstream_fixtures import (
    broker,
    js_broker,
    reference_url,
    thread_url,
    url,
)

__all__ = ["broker", "js_broker", "reference_url", "thread_url", "url"]
