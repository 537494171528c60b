"""``natskern bench``: the summary lines of a real (small) run."""

from __future__ import annotations

import re

RATE = r"[\d,]+ msgs/sec ~ [\d.]+ (B|KiB|MiB|GiB)/sec"


def test_pub_sub_bench(cli, server):
    result = cli("bench", "bench.ps", "--pub", "1", "--sub", "2", "--msgs", "2000", "--size", "16",
                 "-s", server.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Starting Core NATS publisher benchmark" in result.stderr
    assert re.search(rf"^NATS Core NATS publisher stats: {RATE}$", result.stdout, re.M)
    subs = re.findall(r"^ \[\d\] .* \(([\d,]+) msgs\)$", result.stdout, re.M)
    assert subs == ["2,000", "2,000"]
    assert re.search(rf"NATS Core NATS subscriber aggregated stats: {RATE}", result.stdout)


def test_request_reply_bench(cli, server):
    result = cli("bench", "bench.rr", "--request", "--reply", "--pub", "1", "--sub", "1",
                 "--msgs", "200", "-s", server.url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^NATS Core NATS service requester stats: {RATE}$", result.stdout, re.M)
    assert re.search(r"latencies per operation min [\d,]+us .* P99: [\d,]+us", result.stdout)
    assert re.search(
        r"NATS Core NATS service responder stats: 200 msgs|responder stats: ", result.stdout
    )
