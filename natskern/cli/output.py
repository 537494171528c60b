"""Terminal output shared by the commands, shaped like natscli's.

natscli logs through Go's ``log`` package with only the time flag set, so every
log line is ``HH:MM:SS message`` on **stderr**; received messages and tables
are plain **stdout**.  The helpers here reproduce that split and the exact
message layout of ``nats sub`` / ``nats req``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping

from rich.console import Console

from natskern.kernel.core.trace import go_quote as _go_quote_bytes

__all__ = [
    "body_bytes",
    "body_compact_bytes",
    "err_console",
    "go_quote",
    "headers_bytes",
    "log",
    "log_headers",
    "on_stdout_closed",
    "stderr_is_tty",
    "write_stdout",
]

#: rich console for progress bars and tables on stderr (never colours a pipe).
err_console = Console(stderr=True, highlight=False)


def log(message: str) -> None:
    """Write one natscli-style log line (``HH:MM:SS message``) to stderr."""
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


def stderr_is_tty() -> bool:
    """Return whether stderr is an interactive terminal (progress bars go there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # pragma: no cover - closed/odd streams
        return False


def go_quote(text: str) -> str:
    """Quote ``text`` like Go's ``%q`` verb: double quotes, escapes for specials."""
    return _go_quote_bytes(text.encode("utf-8", "surrogateescape"))


#: Called once when stdout's reader goes away (``natskern sub ... | head``).
_on_stdout_closed: list[Callable[[], None]] = []


def on_stdout_closed(callback: Callable[[], None] | None) -> None:
    """Register what to do when stdout's reader goes away (``None`` clears it)."""
    _on_stdout_closed[:] = [callback] if callback is not None else []


def write_stdout(data: bytes) -> None:
    """Write raw bytes to stdout and flush, so piped readers see whole messages.

    If the reader has gone away, stdout is pointed at /dev/null and the
    registered callback (the running command's stop) is called once.
    """
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        callbacks, _on_stdout_closed[:] = list(_on_stdout_closed), []
        for callback in callbacks:
            callback()


def headers_bytes(headers: Mapping[str, str] | None) -> bytes:
    """``Key: value`` lines then a blank line (natscli's header block); empty if none."""
    if not headers:
        return b""
    return "".join(f"{key}: {value}\n" for key, value in headers.items()).encode() + b"\n"


def log_headers(headers: Mapping[str, str] | None) -> None:
    """Log each header as ``Key: value`` then an empty log line (``nats req`` style)."""
    if not headers:
        return
    for key, value in headers.items():
        log(f"{key}: {value}")
    log("")


def body_compact_bytes(data: bytes) -> bytes:
    """A body followed by one newline (unless it ends in one); ``nil body`` if empty."""
    if not data:
        return b"nil body\n"
    return data if data.endswith(b"\n") else data + b"\n"


def body_bytes(data: bytes) -> bytes:
    """A body like natscli's ``outPutMSGBody``: body, then blank line(s).

    Always one blank line after the body, and a second one when the body did
    not itself end in a newline (an empty body prints ``nil body``).
    """
    return body_compact_bytes(data) + (b"\n" if data.endswith(b"\n") else b"\n\n")
