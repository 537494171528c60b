"""Error types raised by the kernel and its plugins."""

from __future__ import annotations


class NatskernError(Exception):
    """Base class of every error natskern raises on purpose."""


class ConfigError(NatskernError):
    """A configuration that cannot be used; the message names the key and what was expected."""


class PluginError(NatskernError):
    """A plugin misbehaved at load time: duplicate names, unknown hooks, bad contributions."""


class ProtocolError(NatskernError):
    """A client broke the protocol; ``text`` is the ``-ERR`` text (None: close silently)."""

    def __init__(self, text: str | None) -> None:
        super().__init__(text or "protocol violation")
        self.text = text


class NoRespondersError(NatskernError):
    """A request was published on a subject nobody subscribes to."""


class RequestTimeoutError(NatskernError, TimeoutError):
    """No reply arrived in time for an in-process request."""
