"""The ``natskern`` command line: root group, global flags and ``main()``.

The root group takes natscli's global connection flags (and ``NATS_*``
environment variables) into a :class:`~natskern.cli.connect.ConnOptions` kept in
click's ``ctx.obj``; the subcommands resolve it against the selected context
when they connect.  Built-in commands live one family per module; the lead's
``serve``/``config``/``plugins`` come from :mod:`natskern.cli.serve`, and
plugins add more through the ``register_commands`` hook.

:func:`main` is the console script: every error reaches the user as one line
on stderr (``natskern: error: ...``) with a non-zero exit, never a traceback
(set ``NATSKERN_DEBUG=1`` to see one).
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib import metadata

import click

from natskern.cli.groups import AliasGroup
from natskern.cli.options import connection_options
from natskern.cli.runtime import Interrupted

__all__ = ["cli", "load_extra_commands", "main"]

PROG = "natskern"

ALIASES = {
    "publish": "pub",
    "subscribe": "sub",
    "req": "request",
    "ctx": "context",
    "srv": "server",
}


def _version() -> str:
    try:
        return metadata.version("natskern")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


#: Subcommands imported on first use (each pulls in nats-py, rich...).
LAZY_COMMANDS = {
    "pub": "natskern.cli.pub:pub_command",
    "sub": "natskern.cli.sub:sub_command",
    "request": "natskern.cli.request:request_command",
    "reply": "natskern.cli.reply:reply_command",
    "bench": "natskern.cli.bench:bench_command",
    "context": "natskern.cli.context_cmd:context_group",
    "server": "natskern.cli.server_run:server_group",
}


@click.group(
    PROG,
    cls=AliasGroup,
    aliases=ALIASES,
    lazy=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(_version(), "--version", prog_name=PROG)
@connection_options(root=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """natskern: a NATS broker and the everyday NATS command line.

    Connection flags may also be given after the subcommand, as with the nats
    CLI; they override the selected context field by field.
    """
    # (The connection options are created on first use: ``serve`` never imports nats-py.)


#: Why optional command sets could not be loaded (shown on "No such command").
_UNAVAILABLE: list[str] = []


def load_extra_commands(group: click.Group = cli) -> None:
    """Add the lead's serve/config/plugins commands and every plugin's commands.

    Missing modules are tolerated (they are being written); the reason is
    remembered and shown if the user asks for a command that is absent.
    """
    if getattr(group, "_extras_loaded", False):
        return
    group._extras_loaded = True  # type: ignore[attr-defined]
    try:
        from natskern.cli.serve import config_group, plugins_command, serve_command
    except Exception as exc:
        _UNAVAILABLE.append(f"serve/config/plugins: {_reason(exc)}")
    else:
        for command in (serve_command, config_group, plugins_command):
            group.add_command(command)
    try:
        from natskern.defaults import default_plugin_manager
    except Exception as exc:
        _UNAVAILABLE.append(f"plugin commands: {_reason(exc)}")
        return
    try:
        default_plugin_manager().hook.register_commands(cli=group)
    except Exception as exc:
        _UNAVAILABLE.append(f"plugin commands: {_reason(exc)}")
        click.echo(f"{PROG}: warning: loading plugin commands failed: {_reason(exc)}", err=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _fail(message: str, code: int) -> None:
    click.echo(f"{PROG}: error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (console script ``natskern``); exits with the command's status."""
    load_extra_commands(cli)
    try:
        result = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        # A group given no subcommand: its help, as click prints it (stderr, exit 2).
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        message = exc.format_message().rstrip(".")
        if exc.ctx is not None:
            message += f" (try '{exc.ctx.command_path} --help')"
        if message.startswith("No such command") and _UNAVAILABLE:
            message += "; unavailable: " + "; ".join(_UNAVAILABLE)
        _fail(message, exc.exit_code)
    except click.ClickException as exc:
        _fail(" ".join(exc.format_message().split()), exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    except (Interrupted, KeyboardInterrupt):
        sys.exit(130)
    except BrokenPipeError:
        # stdout went away (e.g. piped into head): stop quietly, and point the
        # descriptor at /dev/null so Python's exit-time flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:
        if os.environ.get("NATSKERN_DEBUG"):
            traceback.print_exc()
        _fail(_reason(exc), 1)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
