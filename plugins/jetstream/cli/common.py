"""Plumbing shared by the JetStream commands: API requests, confirmations, running.

Requests go through nats-py's client (``nc.request`` on ``$JS.API.…``) so the
raw JSON answers can be shown with ``--json`` exactly as the server sent them,
against natskern and nats-server alike.  An API error becomes one
:class:`~natskern.cli.runtime.CliError` line such as
``stream not found (10059)``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
import nats.errors
from nats.aio.client import Client

from natskern.cli.connect import connected
from natskern.cli.options import get_options
from natskern.cli.output import write_stdout
from natskern.cli.runtime import CliError, run

__all__ = ["API", "JsApi", "confirm", "print_json", "run_with_client"]

API = "$JS.API"


class JsApi:
    """Thin JSON-over-request wrapper for ``$JS.API`` subjects."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self.nc = nc
        self.timeout = max(timeout, 0.001)

    async def request(self, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one API request; return the decoded answer or raise :class:`CliError`."""
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            msg = await self.nc.request(f"{API}.{subject}", payload, timeout=self.timeout)
        except nats.errors.NoRespondersError:
            raise CliError("JetStream not enabled (no responders for the API)") from None
        except (TimeoutError, nats.errors.TimeoutError):
            raise CliError(f"timeout waiting for the JetStream API ({subject})") from None
        try:
            answer = json.loads(msg.data or b"{}")
        except ValueError:
            raise CliError(f"invalid JetStream API answer to {subject}") from None
        error = answer.get("error") if isinstance(answer, dict) else None
        if error:
            text = error.get("description") or "unknown error"
            code = error.get("err_code")
            raise CliError(f"{text} ({code})" if code else text)
        return answer

    async def paged(self, subject: str, key: str, body: dict[str, Any] | None = None) -> list[Any]:
        """Collect a paged list (``streams``, ``consumers``) across every page."""
        items: list[Any] = []
        while True:
            answer = await self.request(subject, {**(body or {}), "offset": len(items)})
            page = answer.get(key) or []
            items += page
            if not page or len(items) >= answer.get("total", 0):
                return items


def run_with_client(
    ctx: click.Context, body: Callable[[JsApi, asyncio.Event], Awaitable[Any]]
) -> Any:
    """Connect with the global options and run ``body(api, stop)``."""
    opts = get_options(ctx)

    async def main(stop: asyncio.Event) -> Any:
        async with connected(opts) as nc:
            return await body(JsApi(nc, opts.resolve().timeout), stop)

    return run(main)


def confirm(question: str, force: bool) -> None:
    """Go on when ``force`` or the user agrees; without a terminal ask for ``-f``."""
    if force:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question.rstrip('?')}: not confirmed (use -f to force)")
    if not click.confirm(question, default=False):
        raise CliError("aborted")


def print_json(value: Any) -> None:
    """Indented JSON on stdout (``--json``), without the API's response ``type`` field."""
    if isinstance(value, dict) and str(value.get("type", "")).startswith("io.nats.jetstream.api"):
        value = {k: v for k, v in value.items() if k != "type"}
    write_stdout((json.dumps(value, indent=2) + "\n").encode())
