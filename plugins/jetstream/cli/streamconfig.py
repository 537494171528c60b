"""Stream configuration from natscli's flags, and the ``stream info`` page."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from natskern.plugins.jetstream.cli import format as fmt

from natskern.cli.params import DURATION, SIZE
from natskern.cli.runtime import CliError

__all__ = [
    "DEFAULTS",
    "RETENTION",
    "config_from_flags",
    "limit_options",
    "parse_headers",
    "stream_page",
]

NS = 1_000_000_000
RETENTION = {
    "limits": "limits",
    "interest": "interest",
    "work": "workqueue",
    "workqueue": "workqueue",
}
DEFAULTS: dict[str, Any] = {
    "retention": "limits",
    "storage": "file",
    "discard": "old",
    "num_replicas": 1,
    "max_consumers": -1,
    "max_msgs": -1,
    "max_bytes": -1,
    "max_age": 0,
    "max_msg_size": -1,
    "max_msgs_per_subject": -1,
    "duplicate_window": 120 * NS,
}


def limit_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The stream configuration flags shared by ``add`` and ``edit`` (``None``: not given)."""
    specs: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (("--subjects",), {"multiple": True, "help": "Subjects (repeatable or comma separated)."}),
        (("--description",), {"help": "A description."}),
        (("--storage",), {"type": click.Choice(["file", "memory"])}),
        (("--retention",), {"type": click.Choice(sorted(RETENTION))}),
        (("--discard",), {"type": click.Choice(["old", "new"])}),
        (("--max-msgs",), {"type": int, "help": "Maximum messages (-1 unlimited)."}),
        (("--max-bytes",), {"type": SIZE, "help": "Maximum size (e.g. 1GB, -1 unlimited)."}),
        (("--max-age",), {"type": DURATION, "help": "Maximum age (e.g. 1h, -1 unlimited)."}),
        (("--max-msg-size",), {"type": SIZE, "help": "Maximum message size."}),
        (("--max-msgs-per-subject",), {"type": int, "help": "Messages kept per subject."}),
        (("--max-consumers",), {"type": int, "help": "Maximum consumers."}),
        (("--dupe-window",), {"type": DURATION, "help": "Duplicate detection window."}),
        (("--replicas",), {"type": int, "help": "Replicas."}),
        (("--allow-rollup/--no-allow-rollup",), {"default": None}),
        (("--deny-delete/--allow-delete",), {"default": None}),
        (("--deny-purge/--allow-purge",), {"default": None}),
        (("--allow-direct/--no-allow-direct",), {"default": None}),
        (
            ("--config", "config_file"),
            {
                "type": click.Path(exists=True, dir_okay=False),
                "help": "Stream configuration JSON file.",
            },
        ),
    ]
    for flags, kwargs in reversed(specs):
        func = click.option(*flags, **kwargs)(func)
    return func


def _negative_aware(value: float | int | None, scale: int = 1) -> int | None:
    if value is None:
        return None
    return -1 if value < 0 else int(value * scale)


def config_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """The StreamConfig fields the user gave (flag name → API field)."""
    out: dict[str, Any] = {}
    if flags.get("config_file"):
        with open(flags["config_file"], encoding="utf-8") as handle:
            try:
                out.update(json.load(handle))
            except ValueError as exc:
                raise CliError(f"invalid configuration file: {exc}") from None
    subjects = [s for item in flags.get("subjects") or () for s in item.split(",") if s.strip()]
    if subjects:
        out["subjects"] = [s.strip() for s in subjects]
    simple = {
        "description": "description",
        "storage": "storage",
        "discard": "discard",
        "max_msgs": "max_msgs",
        "max_msgs_per_subject": "max_msgs_per_subject",
        "max_consumers": "max_consumers",
        "replicas": "num_replicas",
    }
    for flag, field in simple.items():
        if flags.get(flag) is not None:
            out[field] = flags[flag]
    if flags.get("retention"):
        out["retention"] = RETENTION[flags["retention"]]
    for flag in ("max_bytes", "max_msg_size"):
        if flags.get(flag) is not None:
            out[flag] = _negative_aware(flags[flag])
    if flags.get("max_age") is not None:
        out["max_age"] = max(_negative_aware(flags["max_age"], NS) or 0, 0)
    if flags.get("dupe_window") is not None:
        out["duplicate_window"] = max(_negative_aware(flags["dupe_window"], NS) or 0, 0)
    bools = {
        "allow_rollup": "allow_rollup_hdrs",
        "deny_delete": "deny_delete",
        "deny_purge": "deny_purge",
        "allow_direct": "allow_direct",
    }
    for flag, field in bools.items():
        if flags.get(flag) is not None:
            out[field] = bool(flags[flag])
    return out


def stream_page(info: dict[str, Any]) -> fmt.Page:
    """``nats stream info``'s page for a StreamInfo answer."""
    cfg, state = info.get("config", {}), info.get("state", {})
    created = fmt.parse_time(info.get("created"))
    page = fmt.Page(f"Information for Stream {cfg.get('name')} created {fmt.time_text(created)}")
    rows = page.section()
    if cfg.get("description"):
        rows.append(("Description", cfg["description"]))
    rows.append(("Subjects", ", ".join(cfg.get("subjects") or [])))
    rows.append(("Replicas", str(cfg.get("num_replicas", 1))))
    rows.append(("Storage", fmt.title_case(cfg.get("storage"))))
    rows = page.section("Options")
    rows += [
        ("Retention", fmt.title_case(cfg.get("retention"))),
        ("Acknowledgments", fmt.yes_no(not cfg.get("no_ack"))),
        ("Discard Policy", fmt.title_case(cfg.get("discard"))),
        ("Duplicate Window", fmt.duration_ns(cfg.get("duplicate_window"), zero="0s")),
        ("Direct Get", fmt.yes_no(cfg.get("allow_direct"))),
        ("Allows Msg Delete", fmt.yes_no(not cfg.get("deny_delete"))),
        ("Allows Purge", fmt.yes_no(not cfg.get("deny_purge"))),
        ("Allows Rollups", fmt.yes_no(cfg.get("allow_rollup_hdrs"))),
    ]
    rows = page.section("Limits")
    rows += [
        ("Maximum Messages", fmt.limit(cfg.get("max_msgs"))),
        ("Maximum Per Subject", fmt.limit(cfg.get("max_msgs_per_subject"))),
        ("Maximum Bytes", fmt.limit(cfg.get("max_bytes"), as_size=True)),
        ("Maximum Age", fmt.duration_ns(cfg.get("max_age"))),
        ("Maximum Message Size", fmt.limit(cfg.get("max_msg_size"), as_size=True)),
        ("Maximum Consumers", fmt.limit(cfg.get("max_consumers"))),
    ]
    if cfg.get("metadata"):
        page.section("Metadata").extend(sorted(cfg["metadata"].items()))
    rows = page.section("State")
    rows += [
        ("Messages", fmt.count(state.get("messages", 0))),
        ("Bytes", fmt.size(state.get("bytes", 0))),
        ("First Sequence", _seq_with_time(state.get("first_seq", 0), state.get("first_ts"))),
        ("Last Sequence", _seq_with_time(state.get("last_seq", 0), state.get("last_ts"))),
    ]
    if state.get("num_deleted"):
        rows.append(("Deleted Messages", fmt.count(state["num_deleted"])))
    rows.append(("Active Consumers", fmt.count(state.get("consumer_count", 0))))
    if state.get("num_subjects"):
        rows.append(("Number of Subjects", fmt.count(state["num_subjects"])))
    return page


def _seq_with_time(seq: int, ts: str | None) -> str:
    when = fmt.parse_time(ts)
    return f"{fmt.count(seq)} @ {fmt.time_text(when)}" if when and seq else fmt.count(seq)


def parse_headers(raw: bytes) -> list[tuple[str, str]]:
    """``NATS/1.0\\r\\nK: V\\r\\n…`` → ``[(K, V)]`` (the status line is dropped)."""
    out = []
    for line in raw.decode(errors="replace").split("\r\n")[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            out.append((key.strip(), value.strip()))
    return out
