"""``natskern serve``, ``natskern config schema`` and ``natskern plugins``."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from natskern.kernel.config import load_file
from natskern.kernel.errors import NatskernError


def _fail(message: str) -> None:
    click.echo(f"natskern: {message}", err=True)
    sys.exit(1)


def default_store_dir() -> str:
    """Where the default profile keeps JetStream: the user's data directory.

    ``$XDG_DATA_HOME/natskern/jetstream``, else ``~/.local/share/natskern/jetstream``.
    """
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "natskern", "jetstream")


def build_serve_config(
    config_file: str | None,
    host: str | None,
    port: int | None,
    unix: str | None,
    *,
    store_dir: str | None = None,
    jetstream: bool = True,
) -> dict[str, Any]:
    """The config a ``serve`` invocation means: the file (or the default profile) plus flags.

    The default profile runs JetStream under :func:`default_store_dir`; a config
    file with its own ``jetstream`` section keeps it; ``--store-dir`` and
    ``--no-jetstream`` override both.
    """
    config: dict[str, Any] = load_file(config_file) if config_file else {}
    if not jetstream:
        config["jetstream"] = {**config.get("jetstream", {}), "enabled": False}
    elif store_dir is not None or "jetstream" not in config:
        section = config.setdefault("jetstream", {})
        section["enabled"] = True
        section["store_dir"] = store_dir or section.get("store_dir") or default_store_dir()
    if host is not None or port is not None:
        tcp = config.setdefault("tcp", {})
        if host is not None:
            tcp["host"] = host
        if port is not None:
            tcp["port"] = port
    if unix is not None:
        config.setdefault("unix", {})["path"] = unix
    return config


@click.command("serve")
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML or JSON config file.",
)
@click.option("--host", help="TCP listen address (default 127.0.0.1).")
@click.option("-p", "--port", type=int, help="TCP port (default 4222; 0 picks a free one).")
@click.option(
    "--unix", "unix", type=click.Path(dir_okay=False), help="Also listen on this Unix socket."
)
@click.option(
    "--store-dir",
    type=click.Path(file_okay=False),
    help="JetStream store directory (default: ~/.local/share/natskern/jetstream).",
)
@click.option("--no-jetstream", is_flag=True, help="Run without JetStream.")
@click.option("--debug", is_flag=True, help="Log debug messages.")
def serve_command(
    config_file: str | None,
    host: str | None,
    port: int | None,
    unix: str | None,
    store_dir: str | None,
    no_jetstream: bool,
    debug: bool,
) -> None:
    """Run the broker (default profile: TCP 127.0.0.1:4222, no auth, JetStream on)."""
    from natskern.runner import run_broker

    def make_config() -> dict[str, Any]:
        config = build_serve_config(
            config_file, host, port, unix, store_dir=store_dir, jetstream=not no_jetstream
        )
        if debug:
            config.setdefault("logging", {})["debug"] = True
        return config

    try:
        # SIGHUP re-reads the file and applies what can change while running.
        sys.exit(run_broker(make_config(), reload=make_config))
    except NatskernError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot start: {exc.strerror or exc}")


@click.group("config")
def config_group() -> None:
    """Inspect the broker configuration."""


@config_group.command("schema")
def schema_command() -> None:
    """Print the merged JSON Schema every loaded plugin contributes to."""
    from natskern import Broker

    try:
        broker = Broker({})
    except NatskernError as exc:
        _fail(str(exc))
    click.echo(json.dumps(broker.schema, indent=2))


@config_group.command("check")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_command(config_file: str) -> None:
    """Validate a config file without starting anything."""
    from natskern import Broker

    try:
        Broker(load_file(config_file))
    except NatskernError as exc:
        _fail(str(exc))
    click.echo(f"{config_file}: configuration is valid")


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List the loaded plugins and the hooks each implements."""
    from natskern.defaults import default_plugin_manager
    from natskern.kernel.plugins import plugin_listing

    try:
        listing = plugin_listing(default_plugin_manager())
    except NatskernError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps([{"name": n, "hooks": h} for n, h in listing], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Loaded plugins")
    table.add_column("Plugin", style="bold")
    table.add_column("Hooks")
    for name, hooks in listing:
        table.add_row(name, ", ".join(hooks))
    Console().print(table)
