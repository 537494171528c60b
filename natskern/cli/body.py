"""Where a message body comes from: the argument, or stdin like natscli."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from natskern.cli.output import log

__all__ = ["bodies", "body_options"]


def body_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--force-stdin``, ``--send-on`` and ``--templates`` for a command sending ``what``s."""
    options = [
        click.option("--force-stdin", is_flag=True, help="Force reading the body from stdin."),
        click.option(
            "--send-on",
            type=click.Choice(["eof", "newline"]),
            default="eof",
            show_default=True,
            help=f"When reading stdin: one {what}, or one per line.",
        ),
        click.option(
            "--templates/--no-templates",
            default=True,
            show_default=True,
            help="Expand templates in the body and subject.",
        ),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def bodies(body: str | None, *, force_stdin: bool, send_on: str, quiet: bool) -> Iterator[str]:
    """Yield the message body (or, with ``send_on="newline"``, one body per stdin line).

    The argument is used when given (an explicit ``""`` is a real empty body);
    otherwise, or with ``force_stdin``, stdin is read and natscli's ``Reading
    payload from STDIN`` is logged.
    """
    if body is not None and not force_stdin:
        yield body
        return
    if not quiet:
        log("Reading payload from STDIN")
    stream = sys.stdin
    if stream is None:  # pragma: no cover - no stdin at all
        yield ""
        return
    if send_on == "newline":
        for line in stream:
            yield line.rstrip("\r\n")
        return
    yield stream.read()
