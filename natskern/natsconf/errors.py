"""Errors of the nats-server config front-end; each names the file and line it is about."""

from __future__ import annotations

from natskern.kernel.errors import ConfigError


class NatsConfError(ConfigError):
    """Base class of every error raised while reading a nats-server config file or flags."""


class ConfSyntaxError(NatsConfError):
    """The text is not valid nats-server config syntax (or an include/variable failed).

    ``str()`` is ``file:line:col: reason``.
    """

    def __init__(self, file: str, line: int, col: int, reason: str) -> None:
        super().__init__(f"{file}:{line}:{col}: {reason}")
        self.file = file
        self.line = line
        self.col = col
        self.reason = reason


class ConfTranslateError(NatsConfError):
    """One or more keys have unknown names or unusable values.

    ``problems`` holds one ``file:line: key "name": what is wrong`` line per problem,
    in file order; ``str()`` joins them with newlines (nats-server prints them all too).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
