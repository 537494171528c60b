"""Output helpers for the JetStream commands, shaped like natscli's.

Info pages are sections of right-aligned ``Key: Value`` lines (the keys of a
whole page share one width, as natscli's column writer does); listings are
rich tables on stdout; sizes are binary (``1.5 KiB``), durations natscli-like
(``2m0s``, ``1d0h0m0s``) and ``-1``/``0`` limits read ``unlimited``.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from natskern.cli.output import write_stdout
from natskern.cli.units import format_count, format_size

__all__ = [
    "Page",
    "ago",
    "count",
    "duration",
    "duration_ns",
    "limit",
    "parse_time",
    "print_table",
    "rate",
    "size",
    "time_text",
    "title_case",
    "yes_no",
]

NS = 1_000_000_000


def size(num_bytes: float) -> str:
    """A byte count humanised in binary units (``0 B``, ``1.5 KiB``)."""
    return format_size(num_bytes)


def count(value: float) -> str:
    """A number with thousands separators."""
    return format_count(value)


def limit(value: int | None, render: type | None = None, *, as_size: bool = False) -> str:
    """A limit (``-1`` or ``0`` means none) as ``unlimited`` or its value."""
    if value is None or value <= 0:
        return "unlimited"
    return size(value) if as_size else count(value)


def duration(seconds: float) -> str:
    """A duration like natscli prints it: ``250ms``, ``30s``, ``2m0s``, ``1d2h0m0s``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds >= 0.001 else f"{seconds * 1e6:.0f}µs"
    total = int(seconds)
    frac = seconds - total
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    sec_text = f"{secs + frac:.2f}".rstrip("0").rstrip(".") if frac else str(secs)
    if days:
        return f"{days}d{hours}h{minutes}m{sec_text}s"
    if hours:
        return f"{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{minutes}m{sec_text}s"
    return f"{sec_text}s"


def duration_ns(value: int | None, *, zero: str = "unlimited") -> str:
    """A nanosecond duration from the API (``0``: ``zero``)."""
    if not value or value <= 0:
        return zero
    return duration(value / NS)


def rate(amount: float, seconds: float, unit: str = "msgs") -> str:
    """A throughput such as ``1,234 msgs/s``."""
    if seconds <= 0:
        return f"0 {unit}/s"
    return f"{count(amount / seconds)} {unit}/s"


def yes_no(value: object) -> str:
    """``true``/``false`` like natscli."""
    return "true" if value else "false"


def title_case(value: str | None) -> str:
    """``workqueue`` → ``WorkQueue``, ``file`` → ``File`` (natscli's policy names)."""
    names = {"workqueue": "WorkQueue", "last_per_subject": "Last Per Subject"}
    if not value:
        return ""
    return names.get(value, value.replace("_", " ").title())


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time from the API (nanosecond precision tolerated), or ``None``."""
    if not text or text.startswith("0001-01-01"):
        return None
    body = text.replace("Z", "+00:00")
    if "." in body:
        head, rest = body.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits) :]
        body = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    try:
        when = dt.datetime.fromisoformat(body)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def time_text(when: dt.datetime | None) -> str:
    """A local ``2006-01-02 15:04:05`` time (empty for none)."""
    if when is None:
        return ""
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ago(when: dt.datetime | None) -> str:
    """How long ago ``when`` was (``12s``, ``3m4s``); ``never`` for none."""
    if when is None:
        return "never"
    delta = (dt.datetime.now(dt.UTC) - when).total_seconds()
    return duration(max(int(delta), 0)) if delta >= 1 else duration(max(delta, 0.0))


class Page:
    """An info page: a heading and sections of right-aligned ``Key: Value`` lines."""

    def __init__(self, heading: str = "") -> None:
        self.heading = heading
        self.sections: list[tuple[str, list[tuple[str, str]]]] = []

    def section(self, title: str = "") -> list[tuple[str, str]]:
        """Start a section; append ``(key, value)`` pairs to the returned list."""
        rows: list[tuple[str, str]] = []
        self.sections.append((title, rows))
        return rows

    def render(self) -> str:
        """The page as text (keys of the whole page share one width)."""
        keys = [key for _, rows in self.sections for key, _ in rows]
        width = max((len(key) for key in keys), default=0)
        out: list[str] = []
        if self.heading:
            out += [self.heading, ""]
        for title, rows in self.sections:
            if not rows:
                continue
            if title:
                out += [f"{title}:", ""]
            out += [f"  {key:>{width}}: {value}".rstrip() for key, value in rows]
            out.append("")
        return "\n".join(out) + "\n"

    def print(self) -> None:
        """Write the page to stdout."""
        write_stdout(self.render().encode())


def print_table(
    title: str, headers: Sequence[str], rows: Iterable[Sequence[object]], *, right: int = 0
) -> None:
    """A natscli-style boxed table on stdout; columns from ``right`` on are right-aligned."""
    table = Table(title=title, box=box.ROUNDED, title_justify="center", min_width=len(title) + 4)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if right and i >= right else "left")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    buf = io.StringIO()
    width = max(shutil.get_terminal_size((160, 24)).columns, 160)
    Console(file=buf, width=width, color_system=None, highlight=False).print(table)
    write_stdout(buf.getvalue().encode())
