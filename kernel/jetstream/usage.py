"""Read-only usage figures of the JetStream engine, for monitoring (``/jsz``, ``/varz``).

:func:`account_usage` adds up one account's streams (bytes in use by storage type, what
their ``max_bytes`` reserve, messages, consumers) and its ``$JS.API`` counters;
:func:`server_usage` adds up every account that has JetStream (an account where it is
off only answers ``10039`` and counts as none, as in nats-server).  Nothing here
changes the engine; the figures come from the stores' ``state()`` and the counters the
API responder keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from natskern.kernel.jetstream.limits import reserved

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.engine import AccountJetStream, JetStream

__all__ = ["JetStreamUsage", "account_usage", "server_usage"]


@dataclass(slots=True)
class JetStreamUsage:
    """What an account (or the whole server) stores and what its API has served."""

    #: Bytes in use by memory streams and by file streams (nats-server's message sizes).
    memory: int = 0
    storage: int = 0
    #: Bytes the streams reserve with ``max_bytes``, by storage type.
    reserved_memory: int = 0
    reserved_storage: int = 0
    #: Accounts with JetStream (1 for an account's own usage, 0 when it is off there).
    accounts: int = 0
    streams: int = 0
    consumers: int = 0
    messages: int = 0
    bytes: int = 0
    #: ``$JS.API`` requests answered, and those answered with an error.
    api_total: int = 0
    api_errors: int = 0

    def add(self, other: JetStreamUsage) -> None:
        """Add ``other``'s figures to these."""
        for name in self.__slots__:  # type: ignore[attr-defined]
            setattr(self, name, getattr(self, name) + getattr(other, name))


def account_usage(ajs: AccountJetStream) -> JetStreamUsage:
    """One account's usage; all zero when JetStream is off in it."""
    out = JetStreamUsage()
    if ajs.limits is None:
        return out
    out.accounts = 1
    configs = []
    for stream in ajs.streams.values():
        state = stream.store.state()
        if stream.config.storage == "memory":
            out.memory += state.bytes
        else:
            out.storage += state.bytes
        out.messages += state.messages
        out.bytes += state.bytes
        out.consumers += stream.consumer_count
        configs.append(stream.config)
    out.streams = len(configs)
    out.reserved_memory = reserved(configs, "memory")
    out.reserved_storage = reserved(configs, "file")
    out.api_total = ajs.api_total
    out.api_errors = ajs.api_errors
    return out


def server_usage(engine: JetStream) -> JetStreamUsage:
    """The usage of every account with JetStream, added up."""
    out = JetStreamUsage()
    for ajs in engine.accounts.values():
        out.add(account_usage(ajs))
    return out
