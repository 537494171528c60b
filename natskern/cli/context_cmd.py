"""``natskern context ...`` — manage natscli-compatible connection contexts."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from natskern.cli.connect import ConnOptions, connect
from natskern.cli.context import (
    DEFAULT_URL,
    Context,
    ContextError,
    go_json,
    is_known,
    known_contexts,
    load_context,
    previous_context,
    save_context,
    select_context,
    selected_context,
    unselect_context,
    valid_name,
)
from natskern.cli.context import delete_context as _delete
from natskern.cli.groups import AliasGroup
from natskern.cli.options import connection_options, get_options
from natskern.cli.output import go_quote
from natskern.cli.runtime import CliError, run

__all__ = ["context_group", "render_info"]

# Flag attribute on ConnOptions -> context key.
_FLAG_KEYS = {
    "server": "url",
    "user": "user",
    "password": "password",
    "token": "token",
    "creds": "creds",
    "nkey": "nkey",
    "tlscert": "cert",
    "tlskey": "key",
    "tlsca": "ca",
    "inbox_prefix": "inbox_prefix",
}


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _load(name: str) -> Context:
    try:
        return load_context(name)
    except ContextError as exc:
        raise CliError(str(exc)) from None


def _select_and_show(name: str) -> None:
    """Select context ``name`` and show it."""
    try:
        select_context(name)
    except ContextError as exc:
        raise CliError(str(exc)) from None
    _show(_load(name))


def _check_name(name: str) -> None:
    if not valid_name(name):
        raise CliError(f"invalid context name {go_quote(name)}")


def render_info(ctx: Context, connection: str | None = None) -> str:
    """The ``context info`` view: right-aligned labels, empty fields left out."""
    creds = ctx.expanded("creds")
    rows = [
        ("Description", ctx.get("description")),
        ("Server URLs", ctx.server_url),
        ("SOCKS5 Proxy", ctx.get("socks_proxy")),
        ("Username", ctx.get("user")),
        ("Password", "*" * len(ctx.get("password") or "")),
        ("Token", ctx.get("token")),
        ("Credentials", f"{creds} ({'OK' if os.path.isfile(creds) else 'ERROR'})" if creds else ""),
        ("NKey", ctx.get("nkey")),
        ("Certificate", ctx.get("cert")),
        ("Key", ctx.get("key")),
        ("CA", ctx.get("ca")),
        ("TLS First", "true" if ctx.get("tls_first") else ""),
        ("JS API Prefix", ctx.get("jetstream_api_prefix")),
        ("JS Event Prefix", ctx.get("jetstream_event_prefix")),
        ("JS Domain", ctx.get("jetstream_domain")),
        ("Inbox Prefix", ctx.get("inbox_prefix")),
        ("Path", str(ctx.path) if ctx.path else ""),
        ("Color Scheme", ctx.get("color_scheme")),
        ("Connection", connection or ""),
    ]
    shown = [(label, str(value)) for label, value in rows if value]
    width = max(len(label) for label, _ in shown)
    lines = [f'NATS Configuration Context "{ctx.name}"', ""]
    lines += [f"  {label.rjust(width)}: {value}" for label, value in shown]
    return "\n".join(lines) + "\n"


def _check_connection(ctx: Context) -> str:
    """Try to connect with ``ctx``; return ``OK`` or ``ERROR: reason``."""
    opts = ConnOptions(context=str(ctx.path) if ctx.path else ctx.name)

    async def main(stop: asyncio.Event) -> str:
        nc = await connect(opts)
        await nc.close()
        return "OK"

    try:
        return run(main)
    except CliError as exc:
        return f"ERROR: {exc.format_message()}"


def _show(ctx: Context, *, as_json: bool = False, check: bool = False) -> str | None:
    if as_json:
        click.echo(ctx.to_json(with_name=True))
        return None
    status = _check_connection(ctx) if check else None
    click.echo(render_info(ctx, status), nl=False)
    return status


@click.group("context", cls=AliasGroup)
def context_group() -> None:
    """Manage connection contexts (shared with the nats CLI)."""


@context_group.command("add")
@click.argument("name")
@click.option("--description", help="A human friendly description.")
@click.option("--select", "select_it", is_flag=True, help="Select the context after saving it.")
@connection_options()
@click.pass_context
def add_command(ctx: click.Context, name: str, description: str | None, select_it: bool) -> None:
    """Create or update the context NAME from the connection flags given."""
    _check_name(name)
    opts = get_options(ctx)
    if is_known(name):
        context = _load(name)
    elif opts.context:
        context = _load(opts.context)
        context.name, context.path = name, None
    else:
        context = Context(name, {"url": DEFAULT_URL})
    _apply_flags(context, opts)
    if description is not None:
        context.set("description", description)
    _save(context, name)
    if select_it:
        select_context(name)
    _show(context)


def _apply_flags(context: Context, opts: ConnOptions) -> None:
    for attr, key in _FLAG_KEYS.items():
        value = getattr(opts, attr)
        if value is not None:
            context.set(key, value)
    if opts.tls_first is not None:
        context.set("tls_first", bool(opts.tls_first))
    # natscli: a user given without a password is stored as a token.
    if opts.user is not None and opts.password is None and not context.get("password"):
        context.set("token", opts.user)
        context.set("user", "")


def _save(context: Context, name: str) -> None:
    try:
        context.validate()
        save_context(context, name)
    except (ContextError, OSError) as exc:
        raise CliError(f"could not save context {go_quote(name)}: {exc}") from None


@context_group.command("copy")
@click.argument("source")
@click.argument("name")
@click.option("--description", help="A human friendly description.")
@connection_options()
@click.pass_context
def copy_command(ctx: click.Context, source: str, name: str, description: str | None) -> None:
    """Copy the context SOURCE to NAME, applying any connection flags given."""
    _check_name(name)
    if is_known(name):
        raise CliError(f"context {go_quote(name)} already exists")
    context = _load(source)
    context.name, context.path = name, None
    _apply_flags(context, get_options(ctx))
    if description is not None:
        context.set("description", description)
    _save(context, name)
    _show(context)


@context_group.command("ls")
@click.option("-j", "--json", "as_json", is_flag=True, help="Output JSON.")
@click.option("--names", is_flag=True, help="Show just the names.")
def ls_command(as_json: bool, names: bool) -> None:
    """List known contexts; the selected one is marked with *."""
    known = known_contexts()
    current = selected_context()
    if names:
        for name in known:
            click.echo(name)
        return
    if as_json:
        items = [json.loads(_load(name).to_json(with_name=True)) for name in known]
        click.echo(go_json(items))
        return
    if not known:
        click.echo("No known contexts")
        return
    table = Table(title="Known Contexts", box=box.ROUNDED)
    table.add_column("Name")
    table.add_column("Description")
    for name in known:
        try:
            description = load_context(name).get("description")
        except ContextError:
            description = "(unreadable)"
        table.add_row(f"{name}*" if name == current else name, str(description or ""))
    _stdout().print(table)


@context_group.command("select")
@click.argument("name", required=False)
def select_command(name: str | None) -> None:
    """Select NAME as the default context (interactive picker without NAME)."""
    if not name:
        known = known_contexts()
        if not known:
            raise CliError("no context defined")
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise CliError("cannot pick a context without a terminal and no name supplied")
        name = click.prompt("Select a Context", type=click.Choice(known), show_choices=True)
    _select_and_show(name)


@context_group.command("unselect")
def unselect_command() -> None:
    """Clear the context selection."""
    name = unselect_context()
    if name:
        click.echo(f'Unselected the "{name}" context')
    else:
        click.echo("No context currently selected")


@context_group.command("previous")
def previous_command() -> None:
    """Switch back to the previously selected context."""
    name = previous_context()
    if not name:
        raise CliError("no previous context")
    _select_and_show(name)


@context_group.command("info")
@click.argument("name", required=False)
@click.option("-j", "--json", "as_json", is_flag=True, help="Output JSON.")
@click.option("--connect", "check", is_flag=True, help="Also try to connect.")
def info_command(name: str | None, as_json: bool, check: bool) -> None:
    """Show a context (the selected one without NAME)."""
    name = name or selected_context()
    if not name:
        raise CliError("no context selected; name one")
    status = _show(_load(name), as_json=as_json, check=check)
    if status and status != "OK":
        sys.exit(1)


@context_group.command("validate")
@click.argument("name", required=False)
@click.option("--connect", "check", is_flag=True, help="Also try to connect.")
def validate_command(name: str | None, check: bool) -> None:
    """Check one context, or all of them; non-zero exit on any error.

    The report goes to stdout; a failure ends with one ``natskern: error:`` line
    on stderr naming the contexts that failed.
    """
    failed: list[str] = []
    for each in [name] if name else known_contexts():
        try:
            context = load_context(each)
            context.validate()
        except ContextError as exc:
            click.echo(f"{each}: {exc}")
            failed.append(each)
            continue
        status = _show(context, check=check)
        if status and status != "OK":
            failed.append(each)
    if failed:
        names = ", ".join(go_quote(each) for each in failed)
        raise CliError(f"context validation failed: {names}")


@context_group.command("rm")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Remove without prompting (unselects it).")
def rm_command(name: str, force: bool) -> None:
    """Remove the context NAME."""
    _check_name(name)
    if not is_known(name):
        raise CliError(f"unknown context {go_quote(name)}")
    if selected_context() == name and not force:
        raise CliError(f"cannot remove the current active context {go_quote(name)} (use --force)")
    if not force:
        if not sys.stdin.isatty():
            raise CliError("cannot prompt for confirmation without a terminal (use --force)")
        if not click.confirm(f"Really delete context {go_quote(name)}", default=False):
            return
    if selected_context() == name:
        unselect_context()
    _delete(name)


@context_group.command("edit")
@click.argument("name")
def edit_command(name: str) -> None:
    """Edit the context NAME as JSON in $EDITOR."""
    editor = os.environ.get("EDITOR", "")
    if not editor:
        raise CliError("set EDITOR to edit a context")
    context = _load(name)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(context.to_json() + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
        try:
            click.edit(filename=str(path), editor=editor)
        except click.ClickException as exc:
            raise CliError(exc.format_message()) from None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CliError(f"the edited context is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError("the edited context must be a JSON object")
    data.pop("name", None)
    edited = Context(name, data)
    _save(edited, name)
    _show(edited)


ALIASES = {
    "create": "add",
    "save": "add",
    "cp": "copy",
    "list": "ls",
    "l": "ls",
    "switch": "select",
    "set": "select",
    "-": "previous",
    "show": "info",
    "v": "info",
    "view": "info",
    "remove": "rm",
    "vi": "edit",
}
context_group.aliases.update(ALIASES)  # type: ignore[attr-defined]
