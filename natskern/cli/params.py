"""click parameter types and shared options (durations, sizes, ``-H``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from natskern.cli.units import parse_duration, parse_size

__all__ = ["DURATION", "SIZE", "header_option"]


class DurationType(click.ParamType):
    """A Go-style duration (``1s``, ``300ms``, ``1m30s``) converted to seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Parse ``value`` or fail with click's usage error."""
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SizeType(click.ParamType):
    """A byte size (``128``, ``128B``, ``1KB``, ``2MiB``) converted to bytes."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Parse ``value`` or fail with click's usage error."""
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DURATION = DurationType()
SIZE = SizeType()


def header_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The repeatable ``-H/--header key:value`` option (values are templates)."""
    return click.option(
        "-H",
        "--header",
        "headers",
        multiple=True,
        metavar="K:V",
        help="Adds a header (repeatable); the value may use templates.",
    )(func)
