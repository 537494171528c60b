"""Consumer configuration from natscli's flags, the ``consumer info`` page, message lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click
from nats.aio.msg import Msg
from natskern.plugins.jetstream.cli import format as fmt

from natskern.cli.output import body_bytes, headers_bytes
from natskern.cli.params import DURATION
from natskern.cli.runtime import CliError

__all__ = [
    "config_from_flags",
    "consumer_options",
    "consumer_page",
    "deliver_policy",
    "format_js_message",
]

NS = 1_000_000_000
ACK_POLICIES = ("explicit", "all", "none")


def deliver_policy(text: str) -> dict[str, Any]:
    """``all|last|new|subject|last_per_subject``, a start sequence or a duration ago."""
    named = {
        "all": "all",
        "last": "last",
        "new": "new",
        "subject": "last_per_subject",
        "last_per_subject": "last_per_subject",
    }
    if text in named:
        return {"deliver_policy": named[text]}
    if text.isdigit():
        return {"deliver_policy": "by_start_sequence", "opt_start_seq": int(text)}
    try:
        seconds = DURATION.convert(text, None, None)
    except click.BadParameter:
        raise CliError(f"invalid deliver policy {text!r}") from None
    start = time.time() - seconds
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + f".{int(start % 1 * 1e9):09d}Z"
    return {"deliver_policy": "by_start_time", "opt_start_time": stamp}


def consumer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The consumer configuration flags shared by ``add`` and ``edit``."""
    specs: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (("--pull",), {"is_flag": True, "default": None, "help": "A pull consumer."}),
        (
            ("--deliver", "--target", "deliver_subject"),
            {"metavar": "SUBJECT", "help": "Push to SUBJECT."},
        ),
        (("--deliver-group",), {"help": "Queue group for push delivery."}),
        (("--filter", "filters"), {"multiple": True, "help": "Filter subject (repeatable)."}),
        (("--description",), {"help": "A description."}),
        (("--ack",), {"type": click.Choice(ACK_POLICIES), "help": "Ack policy."}),
        (
            ("--deliver-policy",),
            {"metavar": "POLICY", "help": "all, last, new, subject, a sequence or a duration."},
        ),
        (("--replay",), {"type": click.Choice(["instant", "original"])}),
        (("--max-deliver",), {"type": int, "help": "Deliveries per message (-1 unlimited)."}),
        (("--wait", "ack_wait"), {"type": DURATION, "help": "Ack wait (e.g. 30s)."}),
        (("--max-pending",), {"type": int, "help": "Maximum outstanding acks."}),
        (("--max-waiting",), {"type": int, "help": "Maximum waiting pull requests."}),
        (("--heartbeat",), {"type": DURATION, "help": "Idle heartbeat for push consumers."}),
        (("--flow-control/--no-flow-control",), {"default": None}),
        (("--headers-only/--no-headers-only",), {"default": None}),
        (("--inactive-threshold",), {"type": DURATION, "help": "Remove after this idle time."}),
        (
            ("--config", "config_file"),
            {
                "type": click.Path(exists=True, dir_okay=False),
                "help": "Consumer configuration JSON file.",
            },
        ),
    ]
    for flags, kwargs in reversed(specs):
        func = click.option(*flags, **kwargs)(func)
    return func


def config_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """The ConsumerConfig fields the user gave."""
    out: dict[str, Any] = {}
    if flags.get("config_file"):
        with open(flags["config_file"], encoding="utf-8") as handle:
            try:
                out.update(json.load(handle))
            except ValueError as exc:
                raise CliError(f"invalid configuration file: {exc}") from None
    for flag in (
        "deliver_subject",
        "deliver_group",
        "description",
        "max_deliver",
        "flow_control",
        "headers_only",
        "max_waiting",
    ):
        if flags.get(flag) is not None:
            out[flag] = flags[flag]
    filters = [f.strip() for item in flags.get("filters") or () for f in item.split(",") if f]
    if len(filters) == 1:
        out["filter_subject"] = filters[0]
    elif filters:
        out["filter_subjects"] = filters
    if flags.get("ack"):
        out["ack_policy"] = flags["ack"]
    if flags.get("deliver_policy"):
        out.update(deliver_policy(flags["deliver_policy"]))
    if flags.get("replay"):
        out["replay_policy"] = flags["replay"]
    if flags.get("max_pending") is not None:
        out["max_ack_pending"] = flags["max_pending"]
    for flag, field in (
        ("ack_wait", "ack_wait"),
        ("heartbeat", "idle_heartbeat"),
        ("inactive_threshold", "inactive_threshold"),
    ):
        if flags.get(flag) is not None:
            out[field] = int(flags[flag] * NS)
    return out


def consumer_page(info: dict[str, Any]) -> fmt.Page:
    """``nats consumer info``'s page for a ConsumerInfo answer."""
    cfg = info.get("config", {})
    created = fmt.time_text(fmt.parse_time(info.get("created")))
    page = fmt.Page(
        f"Information for Consumer {info.get('stream_name')} > {info.get('name')} created {created}"
    )
    rows = page.section("Configuration")
    rows.append(("Name", info.get("name", "")))
    if cfg.get("durable_name"):
        rows.append(("Durable Name", cfg["durable_name"]))
    if cfg.get("description"):
        rows.append(("Description", cfg["description"]))
    push = bool(cfg.get("deliver_subject"))
    if push:
        rows.append(("Delivery Subject", cfg["deliver_subject"]))
        if cfg.get("deliver_group"):
            rows.append(("Deliver Queue Group", cfg["deliver_group"]))
    else:
        rows.append(("Pull Mode", "true"))
    if cfg.get("filter_subject"):
        rows.append(("Filter Subject", cfg["filter_subject"]))
    if cfg.get("filter_subjects"):
        rows.append(("Filter Subjects", ", ".join(cfg["filter_subjects"])))
    policy = fmt.title_case(cfg.get("deliver_policy"))
    if cfg.get("deliver_policy") == "by_start_sequence":
        policy = f"From Sequence {cfg.get('opt_start_seq')}"
    elif cfg.get("deliver_policy") == "by_start_time":
        policy = f"Since {fmt.time_text(fmt.parse_time(cfg.get('opt_start_time')))}"
    rows.append(("Deliver Policy", policy))
    rows.append(("Ack Policy", fmt.title_case(cfg.get("ack_policy"))))
    if cfg.get("ack_policy") != "none":
        rows.append(("Ack Wait", fmt.duration_ns(cfg.get("ack_wait"), zero="0s")))
    rows.append(("Replay Policy", fmt.title_case(cfg.get("replay_policy"))))
    if cfg.get("max_deliver", -1) > 0:
        rows.append(("Maximum Deliveries", fmt.count(cfg["max_deliver"])))
    if cfg.get("max_ack_pending"):
        rows.append(("Max Ack Pending", fmt.count(cfg["max_ack_pending"])))
    if not push and cfg.get("max_waiting"):
        rows.append(("Max Waiting Pulls", fmt.count(cfg["max_waiting"])))
    if cfg.get("idle_heartbeat"):
        rows.append(("Idle Heartbeat", fmt.duration_ns(cfg["idle_heartbeat"])))
    if push:
        rows.append(("Flow Control", fmt.yes_no(cfg.get("flow_control"))))
    if cfg.get("headers_only"):
        rows.append(("Headers Only", "true"))
    if cfg.get("inactive_threshold"):
        rows.append(("Inactive Threshold", fmt.duration_ns(cfg["inactive_threshold"])))
    rows = page.section("State")
    delivered, floor = info.get("delivered", {}), info.get("ack_floor", {})
    rows.append(("Last Delivered Message", _seqs(delivered)))
    rows.append(("Acknowledgment Floor", _seqs(floor)))
    pending = fmt.count(info.get("num_ack_pending", 0))
    if cfg.get("max_ack_pending", 0) > 0:
        pending += f" out of maximum {fmt.count(cfg['max_ack_pending'])}"
    rows.append(("Outstanding Acks", pending))
    rows.append(("Redelivered Messages", fmt.count(info.get("num_redelivered", 0))))
    rows.append(("Unprocessed Messages", fmt.count(info.get("num_pending", 0))))
    if not push:
        waiting = fmt.count(info.get("num_waiting", 0))
        rows.append(
            ("Waiting Pulls", f"{waiting} of maximum {fmt.count(cfg.get('max_waiting', 0))}")
        )
    return page


def _seqs(point: dict[str, Any]) -> str:
    return (
        f"Consumer sequence: {fmt.count(point.get('consumer_seq', 0))} "
        f"Stream sequence: {fmt.count(point.get('stream_seq', 0))}"
    )


def format_js_message(msg: Msg, *, raw: bool = False) -> bytes:
    """A consumed message like ``nats consumer next`` prints it."""
    if raw:
        return msg.data + b"\n"
    meta = msg.metadata
    line = (
        f"[{time.strftime('%H:%M:%S')}] subj: {msg.subject} / tries: {meta.num_delivered}"
        f" / cons seq: {meta.sequence.consumer} / str seq: {meta.sequence.stream}"
        f" / pending: {meta.num_pending}\n\n"
    )
    out = line.encode()
    if msg.headers:
        out += b"Headers:\n\n" + headers_bytes(msg.headers)
    return out + b"Data:\n\n" + body_bytes(msg.data)
