"""Every hook a natskern plugin can implement.

Hooks wire things up at configure time; none of them runs per message.  A hook
hands the kernel an object (a transport factory, a storage backend, a compiled
mapping function, an authenticator decision) and the hot path calls that object
directly afterwards.

Registration hooks are called once per plugin (the kernel walks the hook's
implementations) so that a duplicate name is reported with both plugins named,
and a plugin registered late by an embedding application is asked on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.client import Client
    from natskern.kernel.server import Broker

PROJECT = "natskern"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(name, component)`` — the callback every ``register_*`` hook receives.
Register = Callable[[str, Any], None]


@hookspec
def config_schema() -> dict[str, dict[str, Any]] | None:
    """Return the JSON Schema fragments of the config sections this plugin owns.

    The result maps a top-level section name (``"tcp"``, ``"auth"``...) to the
    JSON Schema (draft 2020-12) of that section.  The kernel merges every
    plugin's fragments into one schema, validates the whole configuration
    against it before anything starts, and prints it with
    ``natskern config schema``.  Two plugins claiming the same section is a
    start-up error naming both.
    """


@hookspec
def configure(broker: Broker, config: dict[str, Any]) -> None:
    """Read the validated configuration once, before the broker starts.

    ``config`` is the complete, validated configuration with defaults applied
    (each plugin reads its own section).  Called once per broker, after every
    registration hook, in plugin order.  Raise
    :class:`natskern.kernel.errors.ConfigError` to refuse a configuration the schema
    could not express.
    """


@hookspec
def register_transports(register: Register) -> None:
    """Contribute transports: ``register(name, factory)``.

    ``factory(broker, section)`` is called at start-up with the transport's
    validated config section and returns a listener (``name``, ``async
    start()``, ``async close()``, a ``listen_url`` property) or None when the
    section disables it.  Each connection it accepts gets a session from
    :meth:`Broker.accept`; the transport feeds it bytes and never parses the
    protocol.  The whole seam (:class:`Listener`, :class:`Connection`, and the
    asyncio adapter :class:`SessionProtocol`) is in
    :mod:`natskern.kernel.core.transport`.
    """


@hookspec
def register_storage_backends(register: Register) -> None:
    """Contribute storage backends for JetStream streams: ``register(name, factory)``.

    ``name`` is the value of a stream's ``storage`` field (``"memory"``,
    ``"file"``, ``"rocksdb"``...); ``factory`` builds a stream store.
    """


@hookspec
def register_mapping_functions(register: Register) -> None:
    """Contribute subject-mapping functions: ``register(name, function)``.

    ``name`` is what a mapping destination writes inside ``{{ }}`` (compared
    case-insensitively, like nats-server); ``function`` is a
    :class:`natskern.kernel.subjects.transform.MappingFunction` that validates its
    arguments and compiles them once into a token program.
    """


@hookspec(firstresult=True)
def authenticate(broker: Broker, client: Client, options: dict[str, Any]) -> Any:
    """Decide whether a connecting client may use the broker.

    Called once per connection with the parsed CONNECT options.  Must decide
    synchronously (never return an awaitable: to pluggy a coroutine object is
    an answer).  Return ``None`` to let the next plugin decide, ``False`` to
    refuse (the client gets ``-ERR 'Authorization Violation'``), or an
    :class:`natskern.kernel.core.accounts.Identity` naming the account and the
    permissions to bind to the session.  When no plugin answers and auth is not
    required, the session joins the default account without restrictions.
    A plugin that demands credentials says so from ``configure`` with
    :meth:`Broker.require_auth`, which makes INFO advertise ``auth_required``.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``natskern`` command line.

    ``cli`` is the root :class:`click.Group`; call ``cli.add_command(...)``.
    """


@hookspec
def lifespan(broker: Broker) -> AbstractAsyncContextManager[None] | None:
    """Return an async context manager entered when the broker starts.

    Entered after transports are bound, exited in reverse order on shutdown
    (before the transports close).  Use it for background services: HTTP
    monitoring, JetStream, replication.
    """


@hookspec
def on_session_opened(client: Client) -> None:
    """Notification: a client finished CONNECT and was admitted."""


@hookspec
def on_session_closed(client: Client, reason: str) -> None:
    """Notification: a client's connection closed, with the reason."""
