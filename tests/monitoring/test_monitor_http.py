"""The monitoring HTTP server: status codes, headers, errors and connection handling.

Where nats-server is installed the same requests go to it too, and both must
answer alike (status, content type, error text).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.monitoring.conftest import GnatsdMonitored, Http, Monitored

# (path, expected status, expected text body or None for JSON)
CASES = [
    ("/varz", 200, None),
    ("/healthz", 200, None),
    ("/nothere", 404, "404 page not found\n"),
    ("/varz/", 404, "404 page not found\n"),
    ("/connz?sort=bogus", 400, "invalid sorting option: bogus"),
    ("/connz?sort=rtt", 400, "invalid sorting option: rtt"),
    ("/connz?sort=stop", 400, "sort by stop only valid on closed connections"),
    ("/connz?sort=reason&state=any", 400, "sort by reason only valid on closed connections"),
    ("/connz?state=bogus", 400, "Error decoding state for bogus"),
    (
        "/connz?subs=maybe",
        400,
        "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax",
    ),
    (
        "/connz?limit=abc",
        400,
        "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax",
    ),
    (
        "/connz?cid=-1",
        400,
        "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax",
    ),
    (
        "/subsz?subs=detail",
        400,
        "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"detail\": invalid syntax",
    ),
    ("/subsz?test=foo.*", 400, "invalid test subject, must be valid publish subject: foo.*"),
    ("/accountz?acc=nope", 400, "Account nope does not exist"),
    (
        "/healthz?js-enabled-only=maybe",
        400,
        "Error decoding boolean for 'js-enabled-only': strconv.ParseBool: parsing \"maybe\": "
        "invalid syntax",
    ),
]


async def _check_cases(http: Http, base: str) -> None:
    for path, status, text in CASES:
        reply = await http(base, path)
        assert reply.status == status, path
        if text is None:
            assert reply.headers["content-type"] == "application/json", path
            reply.json()
        else:
            assert reply.body.decode() == text, path
            assert reply.headers["content-type"] == "text/plain; charset=utf-8", path


async def test_status_codes_and_error_texts(http: Http, monitored: Monitored) -> None:
    await _check_cases(http, monitored.monitor_url)


async def test_status_codes_and_error_texts_of_nats_server(
    http: Http, gnatsd_monitored: GnatsdMonitored
) -> None:
    """The table above is what the real server answers (keeps the table honest)."""
    await _check_cases(http, gnatsd_monitored.monitor_url)


async def test_index_page_links_every_endpoint(http: Http, monitored: Monitored) -> None:
    reply = await http(monitored.monitor_url, "/")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    for endpoint in ("varz", "connz", "subsz", "routez", "accountz", "healthz", "jsz"):
        assert f"./{endpoint}" in reply.body.decode()


async def test_jsonp_callback_wraps_the_json(http: Http, monitored: Monitored) -> None:
    reply = await http(monitored.monitor_url, "/varz?callback=cb")
    assert reply.headers["content-type"] == "application/javascript"
    assert reply.body.startswith(b"cb({") and reply.body.endswith(b"})")


async def test_head_sends_headers_only(http: Http, monitored: Monitored) -> None:
    reply = await http(monitored.monitor_url, "/varz", method="HEAD")
    assert reply.status == 200
    assert int(reply.headers["content-length"]) > 0
    assert reply.body == b""


async def test_keep_alive_serves_pipelined_requests_in_order(monitored: Monitored) -> None:
    host, port = monitored.monitor_url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /nothere HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /routez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await asyncio.wait_for(reader.read(), 10)  # EOF only after the third answer
    writer.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"404", b"200"]
    assert (
        data.index(b'{"status":"ok"}') < data.index(b"404 page not found") < data.index(b"routes")
    )


@pytest.mark.parametrize(
    ("raw", "status_line"),
    [
        (b"BLAH\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (
            b"GET /healthz HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 400 Bad Request: missing required Host header",
        ),
    ],
)
async def test_malformed_requests_get_400_and_close(
    http: Http, monitored: Monitored, raw: bytes, status_line: bytes
) -> None:
    reply = await http(monitored.monitor_url, "", raw=raw)
    assert reply.status == 400
    assert reply.headers["connection"] == "close"
    assert status_line.split(b" ", 1)[1].decode() in reply.body.decode()


async def test_http_1_0_closes_after_the_answer(http: Http, monitored: Monitored) -> None:
    reply = await http(monitored.monitor_url, "", raw=b"GET /healthz HTTP/1.0\r\n\r\n")
    assert reply.status == 200
    assert reply.body == b'{"status":"ok"}'


async def test_requests_are_counted_per_path(http: Http, monitored: Monitored) -> None:
    for _ in range(3):
        await http(monitored.monitor_url, "/connz")
    await http(monitored.monitor_url, "/nothere")
    stats = (await http(monitored.monitor_url, "/varz")).json()["http_req_stats"]
    assert stats == {"/connz": 3, "/varz": 1}
