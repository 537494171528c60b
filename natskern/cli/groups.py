"""A click group that also answers to natscli's command aliases."""

from __future__ import annotations

import importlib

import click

__all__ = ["AliasGroup"]


class AliasGroup(click.Group):
    """A :class:`click.Group` resolving aliases (``req`` → ``request``) before lookup.

    ``lazy`` maps command names to ``"module:attribute"``: such a command is
    imported only when it is invoked (or listed by ``--help``), so ``natskern
    serve`` does not pay for importing the client library and every other
    command.
    """

    def __init__(
        self,
        *args: object,
        aliases: dict[str, str] | None = None,
        lazy: dict[str, str] | None = None,
        **kwargs: object,
    ) -> None:
        """Create the group; ``aliases`` maps alias → command name."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.aliases: dict[str, str] = dict(aliases or {})
        self.lazy: dict[str, str] = dict(lazy or {})
        self._listing = False

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands in the help; one that cannot be imported says why.

        (A broken optional command must not turn the whole help into an error.)
        """
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, the not yet imported ones included."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command named ``cmd_name`` or the one it is an alias of."""
        for name in (cmd_name, self.aliases.get(cmd_name)):
            if name is None:
                continue
            if name not in self.commands and name in self.lazy:
                module, _, attr = self.lazy[name].partition(":")
                try:
                    loaded = getattr(importlib.import_module(module), attr)
                except Exception as exc:
                    if not self._listing:
                        raise
                    reason = str(exc).strip().splitlines()
                    why = f"{type(exc).__name__}: {reason[0]}" if reason else type(exc).__name__
                    return click.Command(name, help=f"(unavailable: {why})")
                self.add_command(loaded, name)
            command = super().get_command(ctx, name)
            if command is not None:
                return command
        return None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve like click, but report the real command name for aliases."""
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command is not None else name), command, rest
