"""The Go renderings monitoring JSON relies on (expected strings are what Go prints)."""

from __future__ import annotations

import calendar

import pytest
from natskern.plugins.monitoring import format as fmt


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (999, "999ns"),
        (1_000, "1µs"),
        (1_500, "1.5µs"),
        (619_000, "619µs"),
        (1_000_000, "1ms"),
        (1_234_567, "1.234567ms"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (61_000_000_000, "1m1s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_400_000_000, "1h2m3.4s"),
        (-1_500, "-1.5µs"),
    ],
)
def test_go_duration_matches_go(ns: int, text: str) -> None:
    assert fmt.go_duration(ns) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m0s"),
        (3661, "1h1m1s"),
        (86400 + 7200 + 180 + 4, "1d2h3m4s"),
        (365 * 86400 + 86400 + 1, "1y1d0h0m1s"),
    ],
)
def test_uptime_matches_nats_server(seconds: float, text: str) -> None:
    assert fmt.uptime(seconds) == text


def test_rtt_truncates_to_microseconds_below_a_millisecond() -> None:
    assert fmt.rtt(0.000619873) == "619µs"
    assert fmt.rtt(0.001234567) == "1.234567ms"
    assert fmt.rtt(0) == "0s"


def test_rfc3339_is_utc_with_trimmed_fraction() -> None:
    ts = calendar.timegm((2024, 1, 2, 3, 4, 5))
    assert fmt.rfc3339(ts) == "2024-01-02T03:04:05Z"
    assert fmt.rfc3339(ts + 0.5) == "2024-01-02T03:04:05.5Z"
    assert fmt.rfc3339(ts + 0.123456) == "2024-01-02T03:04:05.123456Z"


def test_numbers_print_like_go_floats() -> None:
    assert fmt.number(2.0) == 2 and isinstance(fmt.number(2.0), int)
    assert fmt.number(0.25) == 0.25
    assert fmt.nanos(2.5) == 2_500_000_000


def test_json_is_indented_and_html_escaped() -> None:
    out = fmt.dumps({"a": [1], "b": "<&>", "c": "µs"})
    assert (
        out == b'{\n  "a": [\n    1\n  ],\n  "b": "\\u003c\\u0026\\u003e",\n  "c": "\xc2\xb5s"\n}'
    )
    assert fmt.dumps({"status": "ok"}, indent=False) == b'{"status":"ok"}'
