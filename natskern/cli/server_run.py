"""``natskern server run [NAME]`` — the local development broker natscli offered.

It builds a natskern configuration with the accounts ``USER``, ``SERVICE`` and
``SYSTEM``, users ``local``, ``service`` and ``system`` (random 32-character
passwords, stored bcrypt-hashed in the config), the ``SERVICE`` → ``USER``
service import of natscli's dev server and ``SYSTEM`` as system account, then
runs it with :func:`natskern.runner.run_broker`.  The three contexts ``NAME``,
``NAME_service`` and ``NAME_system`` are written in natscli's format only if
absent; existing ones give back their password and port, so a restart keeps
working credentials.  ``--clean`` removes the contexts on exit.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import bcrypt
import click

from natskern.cli.context import (
    Context,
    ContextError,
    delete_context,
    is_known,
    load_context,
    save_context,
)
from natskern.cli.groups import AliasGroup
from natskern.cli.output import go_quote, log, write_stdout
from natskern.cli.runtime import CliError

__all__ = [
    "DevUser",
    "build_config",
    "dev_users",
    "hash_password",
    "random_password",
    "server_group",
]

_ALPHABET = string.ascii_letters + string.digits

#: (context suffix, user, account, description) for the three dev users.
_USERS = (
    ("", "local", "USER", "Local user access for NATS Development instance"),
    ("_service", "service", "SERVICE", "Local service access for NATS Development instance"),
    ("_system", "system", "SYSTEM", "System user access for NATS Development instance"),
)


@dataclass
class DevUser:
    """One development user: its context, credentials and whether the context exists."""

    context: str
    user: str
    account: str
    description: str
    password: str
    port: int | None = None
    existing: bool = False


def random_password(length: int = 32) -> str:
    """A random ``[a-zA-Z0-9]`` password (natscli uses 32 characters)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_password(password: str, cost: int = 5) -> str:
    """The bcrypt hash of ``password`` as nats-server configs hold it (cost 5 like natscli)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def _saved(name: str, user: str) -> tuple[str | None, int | None]:
    """Password and port kept in an existing context for ``user`` (or ``None``s)."""
    try:
        ctx = load_context(name)
    except ContextError:
        return None, None
    password = ctx.get("password") if ctx.get("user") == user else None
    try:
        port = urlparse(ctx.server_url.split(",")[0]).port
    except ValueError:
        port = None
    return password or None, port


def dev_users(name: str) -> list[DevUser]:
    """The three dev users of instance ``name``, reusing saved contexts when present."""
    users = []
    for suffix, user, account, description in _USERS:
        context = f"{name}{suffix}"
        existing = is_known(context)
        password, port = _saved(context, user) if existing else (None, None)
        users.append(
            DevUser(
                context, user, account, description, password or random_password(), port, existing
            )
        )
    return users


def _data_dir(name: str) -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "nats" / name)


def build_config(
    name: str,
    users: list[DevUser],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    jetstream: bool = False,
    verbose: bool = False,
) -> dict[str, Any]:
    """The natskern configuration dict of the development server.

    Passwords are bcrypt-hashed here; ``port`` 0 lets the broker pick one.
    """
    hashed = {u.user: hash_password(u.password) for u in users}
    accounts: dict[str, Any] = {
        "USER": {
            "jetstream": "enabled",
            "users": [{"user": "local", "password": hashed["local"]}],
            "imports": [
                {
                    "service": {"account": "SERVICE", "subject": "service.>"},
                    "to": "imports.SERVICE.>",
                },
            ],
        },
        "SERVICE": {
            "jetstream": "enabled",
            "users": [{"user": "service", "password": hashed["service"]}],
            "exports": [{"service": "service.>"}],
        },
        "SYSTEM": {"users": [{"user": "system", "password": hashed["system"]}]},
    }
    config: dict[str, Any] = {
        "server": {"name": name},
        "tcp": {"enabled": True, "host": host, "port": port},
        "auth": {"system_account": "SYSTEM"},
        "accounts": accounts,
        "logging": {"debug": verbose, "logtime": False},
    }
    if jetstream:
        config["jetstream"] = {"enabled": True, "store_dir": _data_dir(name)}
    return config


def _banner(name: str, users: list[DevUser], url: str, clean: bool) -> str:
    labels = ("User Credentials", "Service Credentials", "System Credentials")
    lines = [f"Starting local development natskern instance: {name}", ""]
    for label, user in zip(labels, users, strict=True):
        lines.append(
            f"{label:>24}: User: {user.user:<7} Password: {user.password} Context: {user.context}"
        )
    lines.append(f"{'URL':>24}: {url}")
    lines.append(f"{'Clean on Exit':>24}: {'true' if clean else 'false'}")
    lines += [
        "",
        "NOTE: This is not a production setup. It is for local development only:",
        f"      use 'natskern --context {name} ...' (or 'natskern context select {name}').",
        "",
    ]
    return "\n".join(lines) + "\n"


def _client_url(broker: Any) -> str:
    for url in getattr(broker, "listen_urls", []) or []:
        if str(url).startswith("nats://"):
            return str(url)
    raise CliError("the broker reported no nats:// listen URL")


def _save_contexts(users: list[DevUser], url: str) -> None:
    port = urlparse(url).port
    for user in users:
        if user.existing:
            if user.port is not None and user.port != port:
                log(f"Context {user.context} points at port {user.port}, the server uses {port}")
            continue
        ctx = Context(
            user.context,
            {
                "description": user.description,
                "url": url,
                "user": user.user,
                "password": user.password,
            },
        )
        save_context(ctx)


@click.group("server", cls=AliasGroup)
def server_group() -> None:
    """Server related commands."""


@server_group.command("run")
@click.argument("name", default="nats_development")
@click.option(
    "--port", type=int, default=None, help="Client port (default: the saved one or a free port)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--jetstream", is_flag=True, help="Enable JetStream.")
@click.option("--clean", is_flag=True, help="Remove the three contexts on exit.")
@click.option("--verbose", is_flag=True, help="Log in debug mode.")
def run_command(
    name: str, port: int | None, host: str, jetstream: bool, clean: bool, verbose: bool
) -> None:
    """Run a local development broker with ready-made users and contexts.

    NAME (default nats_development) names the instance and its contexts NAME,
    NAME_service and NAME_system.
    """
    if not name or ".." in name or "/" in name or "\\" in name:
        raise CliError(f"invalid instance name {go_quote(name)}")
    try:
        from natskern.kernel.errors import NatskernError
        from natskern.runner import run_broker
    except ImportError as exc:
        raise CliError(f"the natskern broker runner is not available: {exc}") from None
    users = dev_users(name)
    if port is None:
        saved = [u.port for u in users if u.existing and u.port]
        port = saved[0] if saved else 0
    config = build_config(name, users, host=host, port=port, jetstream=jetstream, verbose=verbose)

    def on_ready(broker: Any) -> None:
        url = _client_url(broker)
        _save_contexts(users, url)
        write_stdout(_banner(name, users, url, clean).encode())

    try:
        status = run_broker(config, on_ready=on_ready)
    except NatskernError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot start the server: {exc.strerror or exc}") from None
    finally:
        if clean:
            for user in users:
                delete_context(user.context)
    if status:
        sys.exit(status)
