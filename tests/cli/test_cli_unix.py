"""The ``unix://`` server URL: nats-py over a Unix domain socket."""

from __future__ import annotations

import nats.errors
import pytest

from natskern.cli.connect import round_trip
from natskern.cli.unix_transport import connect_unix, unix_socket_path


def test_pub_sub_over_unix_socket(cli, server):
    url = f"unix://{server.unix_path}"
    sub = cli.spawn("sub", "over.unix", "--count", "1", "-s", url)
    sub.wait_for("Subscribing on")
    result = cli("pub", "over.unix", "via socket", "-s", url)
    assert result.returncode == 0, result.stderr
    code, out, _ = sub.finish()
    assert code == 0
    assert out == '[#1] Received on "over.unix"\nvia socket\n\n\n'


def test_missing_socket_is_one_line(cli, error_line, tmp_path):
    line = error_line(cli("pub", "x", "y", "-s", f"unix://{tmp_path}/none.sock"))
    assert "could not connect to unix://" in line


async def test_connect_unix_in_process(server):
    nc = await connect_unix(server.unix_path, name="unix-test")
    try:
        sub = await nc.subscribe("in.process")
        await round_trip(nc)
        await nc.publish("in.process", b"hello")
        msg = await sub.next_msg(timeout=10)
        assert (msg.subject, msg.data) == ("in.process", b"hello")
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("nobody.here", b"", timeout=10)
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [("unix:///tmp/a.sock", "/tmp/a.sock"), ("unix:/tmp/b.sock", "/tmp/b.sock")],
)
def test_unix_socket_path(url, path):
    assert unix_socket_path(url) == path
    with pytest.raises(ValueError):
        unix_socket_path("unix://")
