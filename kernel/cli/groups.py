"""A click group that also answers to natscli's command aliases."""

from __future__ import annotations

import click

__all__ = ["AliasGroup"]


class AliasGroup(click.Group):
    """A :class:`click.Group` resolving aliases (``req`` → ``request``) before lookup."""

    def __init__(
        self, *args: object, aliases: dict[str, str] | None = None, **kwargs: object
    ) -> None:
        """Create the group; ``aliases`` maps alias → command name."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.aliases: dict[str, str] = dict(aliases or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command named ``cmd_name`` or the one it is an alias of."""
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.aliases:
            command = super().get_command(ctx, self.aliases[cmd_name])
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve like click, but report the real command name for aliases."""
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command is not None else name), command, rest
