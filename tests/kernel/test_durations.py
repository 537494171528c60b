"""The kernel's Go duration parser against Go's own ``time.ParseDuration`` test table."""

from __future__ import annotations

import pytest
from natskern.kernel.durations import NATSCLI_UNITS, parse_duration, parse_duration_ns

NS, US, MS, S = 1, 1_000, 1_000_000, 1_000_000_000
M, H = 60 * S, 3600 * S
MAX, MIN = (1 << 63) - 1, -(1 << 63)

# Go's src/time/time_test.go parseDurationTests.
GO_VALID = [
    ("0", 0), ("5s", 5 * S), ("30s", 30 * S), ("1478s", 1478 * S), ("-5s", -5 * S),
    ("+5s", 5 * S), ("-0", 0), ("+0", 0), ("5.0s", 5 * S), ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S), (".5s", 500 * MS), ("1.0s", S), ("1.00s", S), ("1.004s", S + 4 * MS),
    ("1.0040s", S + 4 * MS), ("100.00100s", 100 * S + MS), ("10ns", 10), ("11us", 11 * US),
    ("12µs", 12 * US), ("12μs", 12 * US), ("13ms", 13 * MS), ("14s", 14 * S), ("15m", 15 * M),
    ("16h", 16 * H), ("3h30m", 3 * H + 30 * M), ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)), ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5 * US + 6),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS), ("52763797000ns", 52763797000),
    ("0.3333333333333333333h", 20 * M), ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", MAX), ("9223372036854775.807us", MAX),
    ("9223372036s854ms775us807ns", MAX), ("-9223372036854775808ns", MIN),
    ("-9223372036854775.808us", MIN), ("-9223372036s854ms775us808ns", MIN),
    ("-2562047h47m16.854775808s", MIN), ("0.100000000000000000000h", 6 * M),
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827),
]  # fmt: skip

GO_INVALID = [
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("1.5x", 'time: unknown unit "x" in duration "1.5x"'),
    ("9223372036854775810ns", 'time: invalid duration "9223372036854775810ns"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"'),
    ("-9223372036854775.809us", 'time: invalid duration "-9223372036854775.809us"'),
]


@pytest.mark.parametrize(("text", "ns"), GO_VALID)
def test_go_valid_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns
    assert parse_duration(text) == ns / S


@pytest.mark.parametrize(("text", "message"), GO_INVALID)
def test_go_invalid_durations_carry_gos_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_ns(text)
    assert str(info.value) == message


def test_natscli_units_add_days_and_weeks() -> None:
    assert parse_duration("1d12h", units=NATSCLI_UNITS) == 36 * 3600
    assert parse_duration_ns("2w", units=NATSCLI_UNITS) == 14 * 86400 * S
    with pytest.raises(ValueError, match="unknown unit"):
        parse_duration("1d")


def test_the_callers_share_the_parser_but_keep_their_forms() -> None:
    from natskern.cli.units import parse_duration as cli
    from natskern.natsconf.values import parse_go_duration as conf

    assert cli(" 2 ") == 2.0 and cli("1w") == 7 * 86400.0 and cli("1m30s") == conf("1m30s") == 90.0
    with pytest.raises(ValueError, match="missing unit"):
        conf("2")
    with pytest.raises(ValueError, match='invalid duration "1x"'):
        cli("1x")
