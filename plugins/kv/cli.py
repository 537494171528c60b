"""``natskern kv ...``: natscli's KV commands over nats-py."""

from __future__ import annotations

import click


@click.group()
def kv() -> None:
    """Interacts with a JetStream based Key-Value store."""
