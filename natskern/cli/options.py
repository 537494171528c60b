"""The global connection flags, accepted before *and* after the subcommand.

natscli (kingpin) takes global flags anywhere on the line, so users write
``nats req foo bar -s nats://host:4222``.  click only parses a group's options
before the subcommand, so the same flags are added (hidden) to every command
that connects; each flag given stores its value on the one
:class:`~natskern.cli.connect.ConnOptions` in the root context's ``obj``.  Only
the root group reads ``NATS_*`` environment variables, so a flag always beats
the environment and the environment beats the context file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from natskern.cli.params import DURATION

if TYPE_CHECKING:  # pragma: no cover
    # natskern.cli.connect imports nats-py (~0.2 s); commands that never connect skip it.
    from natskern.cli.connect import ConnOptions

__all__ = ["connection_options", "get_options"]

_FLAG: dict[str, Any] = {"is_flag": True, "default": None}

# (flags, attribute, envvar, help, kwargs)
_SPECS: list[tuple[tuple[str, ...], str, str | None, str, dict[str, Any]]] = [
    (("-s", "--server"), "server", "NATS_URL", "NATS server URL(s), comma separated.", {}),
    (("--user",), "user", "NATS_USER", "Username (without --password: a token).", {}),
    (("--password",), "password", "NATS_PASSWORD", "Password.", {}),
    (("--token",), "token", "NATS_TOKEN", "Authentication token.", {}),
    (("--creds",), "creds", "NATS_CREDS", "User credentials file.", {}),
    (("--nkey",), "nkey", "NATS_NKEY", "User NKey seed file.", {}),
    (("--tlscert",), "tlscert", "NATS_CERT", "TLS client certificate file.", {}),
    (("--tlskey",), "tlskey", "NATS_KEY", "TLS client private key file.", {}),
    (("--tlsca",), "tlsca", "NATS_CA", "TLS CA file to verify the server.", {}),
    (("--tlsfirst", "--tls-first"), "tls_first", None, "TLS handshake before INFO.", _FLAG),
    (("--timeout",), "timeout", "NATS_TIMEOUT", "Response timeout (5s).", {"type": DURATION}),
    (("--context",), "context", "NATS_CONTEXT", "Configuration context (name or .json path).", {}),
    (("--no-context",), "no_context", None, "Ignore the selected context.", _FLAG),
    (("--inbox-prefix",), "inbox_prefix", None, "Custom inbox prefix.", {}),
    (("--connection-name",), "connection_name", None, "Connection name sent to the server.", {}),
]  # fmt: skip


def get_options(ctx: click.Context) -> ConnOptions:
    """Return the root context's :class:`ConnOptions`, creating it on first use."""
    from natskern.cli.connect import ConnOptions

    root = ctx.find_root()
    if not isinstance(root.obj, ConnOptions):
        root.obj = ConnOptions()
    return root.obj


def _store(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        opts = get_options(ctx)
        if opts._resolved is not None:  # pragma: no cover - flags parse before any connect
            opts._resolved = None
        setattr(opts, attr, value)

    return callback


def connection_options(*, root: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command with the global connection flags.

    ``root=True`` (the top-level group) shows them in help and binds the
    ``NATS_*`` environment variables; on subcommands they are hidden and only
    take effect when typed.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for flags, attr, envvar, help_text, extra in reversed(_SPECS):
            kwargs: dict[str, Any] = {"default": None, **extra}
            func = click.option(
                *flags,
                attr,
                envvar=envvar if root else None,
                help=help_text,
                hidden=not root,
                expose_value=False,
                callback=_store(attr),
                is_eager=False,
                show_envvar=root and envvar is not None,
                **kwargs,
            )(func)
        return func

    return decorate
