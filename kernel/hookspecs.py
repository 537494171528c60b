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
    from natskern.kernel.reload import ConfigChanges
    from natskern.kernel.server import Broker

PROJECT = "natskern"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``register(name, component)`` — the callback every ``register_*`` hook receives.
Register = Callable[[str, Any], None]


@hookspec
def config_schema() -> dict[str, dict[str, Any]] | None:
    """Return the JSON Schema fragments of the config this plugin owns.

    The result maps a top-level section name (``"tcp"``, ``"auth"``...) to the
    JSON Schema (draft 2020-12) of that section.  The kernel merges every
    plugin's fragments into one schema, validates the whole configuration
    against it before anything starts, and prints it with
    ``natskern config schema``.

    A dotted key adds a schema inside another plugin's section instead:
    ``{"accounts.*.jetstream": {...}}`` adds the key ``jetstream`` to every entry
    of the ``accounts`` map (``*`` stands for the entries of a map, that is the
    parent's ``additionalProperties``; any other token is a key of its
    ``properties``).  The owner of ``accounts`` does not list the key; the
    contributing plugin validates and reads it.

    Start-up fails, naming the plugins involved, when two plugins claim the
    same section or path, when a path's parent does not exist inside its
    section (no such object key), or when a path names a key its section
    already defines.  A path into a section no plugin owns is dropped, so
    blocking the owner of ``accounts`` does not break the plugins adding to it.

    What a reload may change is part of the schema: ``"x-natskern-reload":
    "live"`` on a section or any subschema makes the values below it
    reloadable (the plugin applies them in :func:`reload`), ``"restart"`` takes
    that back for a key below; unmarked keys need a restart.
    """


@hookspec
def configure(broker: Broker, config: dict[str, Any]) -> None:
    """Read the validated configuration once, before the broker starts.

    ``config`` is the complete, validated configuration with defaults applied
    (each plugin reads its own section).  Called once per broker, after every
    registration hook, in plugin order.  Raise
    :class:`natskern.kernel.errors.ConfigError` to refuse a configuration the schema
    could not express.

    ``configure`` must have no side effects outside ``broker``: it opens no file,
    socket, thread or task.  It also runs on brokers that are never started:
    ``natskern-server -t``, ``natskern config check`` and the check of a new
    configuration before a reload.  Open resources in :func:`lifespan`.
    """


@hookspec
def reload(
    broker: Broker, old: dict[str, Any], new: dict[str, Any], changes: ConfigChanges
) -> None:
    """Apply a new configuration to a running broker (SIGHUP, :meth:`Broker.reload`).

    Called on every plugin that implements it (in pluggy's order: ``tryfirst``
    and ``trylast`` say who runs first or last) once the new configuration
    passed the schema and every plugin's ``configure`` on a broker that is
    never started, and once every change it makes was found under a key its
    owner marked ``"x-natskern-reload": "live"`` (see :func:`config_schema`);
    any other change refuses the whole reload before this hook runs.  ``old``
    and ``new`` are the validated configurations; ``broker.config`` is already
    ``new``.  ``changes`` is a :class:`natskern.kernel.reload.ConfigChanges`:
    check ``changes.touches("mysection", "accounts.*.mine")`` and return when
    nothing of yours changed.

    Rebuild what ``configure`` built from your keys, on ``broker``.  A plugin
    whose change affects who may stay connected calls :meth:`Broker.reauthorize`
    (every session is checked once after all the hooks ran) and manages its
    credential demand with :meth:`Broker.require_auth` /
    :meth:`Broker.release_auth` under its own ``source``.  Must not fail: the
    configuration was checked already.
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

    Entered in registration order before any transport is bound (so the
    first client finds the service running), exited in reverse order on
    shutdown after the transports stopped accepting and the sessions closed.
    Use it for background services: HTTP monitoring, JetStream, replication.
    This is where a plugin opens files, sockets and tasks (never in
    :func:`configure`); it is called only on a broker that starts, so a store
    is opened once.
    """


@hookspec
def on_session_opened(client: Client) -> None:
    """Notification: a client finished CONNECT and was admitted."""


@hookspec
def on_session_closed(client: Client, reason: str) -> None:
    """Notification: a client's connection closed, with the reason."""
