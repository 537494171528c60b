"""Configuration reload (SIGHUP): users, permissions and limits change; listeners do not.

natskern-server runs as a subprocess with a config file for the signal path;
:func:`natskern.runner.reload_config` is also driven in-process for the details.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import nats
import pytest
from nats.errors import Error as NatsError

from natskern.runner import ReloadError, SignalHandlers, config_changes, reload_config
from tests.support.servers import natskern

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.monitoring.conftest import ServerProcess

CONF = """listen: 127.0.0.1:{port}
authorization {
  users: [ {user: a, password: PASSWORD} ]
}
"""


async def _connect_fails(url: str, **kwargs: Any) -> bool:
    try:
        nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, **kwargs)
    except (NatsError, OSError):
        return True
    await nc.close()
    return False


async def test_sighup_changes_a_users_password(
    natskern_server: Callable[..., ServerProcess],
) -> None:
    server = natskern_server(CONF.replace("PASSWORD", "one"))
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    old = await nats.connect(
        server.url,
        user="a",
        password="one",
        closed_cb=on_closed,
        allow_reconnect=False,
    )
    text = server.config.read_text()
    server.config.write_text(text.replace("password: one", "password: two"))
    server.proc.send_signal(signal.SIGHUP)
    await server.await_log("Reloaded server configuration")
    # The session authenticated with the old password is dropped, like nats-server does.
    await asyncio.wait_for(closed.wait(), 10)
    assert isinstance(old.last_error, nats.errors.AuthorizationError)
    assert await _connect_fails(server.url, user="a", password="one")
    assert not await _connect_fails(server.url, user="a", password="two")
    log = server.log.read_text()
    assert 'authentication error - User "a"' in log
    assert "Reloaded: auth" in log
    await old.close()


async def test_sighup_refuses_a_new_listen_address_and_keeps_running(
    natskern_server: Callable[..., ServerProcess],
) -> None:
    server = natskern_server(CONF.replace("PASSWORD", "one"))
    text = server.config.read_text()
    server.config.write_text(text.replace(f"127.0.0.1:{server.port}", "127.0.0.1:1"))
    server.proc.send_signal(signal.SIGHUP)
    log = await server.await_log("Failed to reload server configuration")
    assert f"config reload not supported for tcp.port: old={server.port}, new=1" in log
    server.config.write_text(text + "garbage {{{\n")
    server.proc.send_signal(signal.SIGHUP)
    await server.await_log("Failed to reload server configuration: ")
    # still serving, on the old port, with the old password
    assert not await _connect_fails(server.url, user="a", password="one")
    assert "Reloaded server configuration" not in server.log.read_text()


USERS = {
    "auth": {
        "users": [
            {"user": "b", "password": "b", "permissions": {"subscribe": ">", "publish": ">"}},
        ]
    }
}


def _with(perms: dict[str, Any], **server: Any) -> dict[str, Any]:
    config = {"auth": {"users": [{"user": "b", "password": "b", "permissions": perms}]}}
    if server:
        config["server"] = server
    return config


async def test_reload_applies_permissions_to_live_sessions() -> None:
    async with natskern(USERS) as broker:
        url = broker.listen_urls[0]
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await nats.connect(url, user="b", password="b", error_cb=on_error)
        foo = await nc.subscribe("foo")
        bar = await nc.subscribe("bar")
        await nc.flush()
        new = _with({"subscribe": "bar", "publish": ">"}, max_payload=2000)
        new["tcp"] = {"port": broker.config["tcp"]["port"]}
        changes = reload_config(broker, new)
        assert changes == ["auth", "max_payload = 2000"]
        await nc.publish("foo", b"1")
        await nc.publish("bar", b"2")
        await nc.flush()
        msg = await bar.next_msg(timeout=5)
        assert msg.data == b"2"
        assert errors == ['nats: permissions violation for subscription to "foo" (sid "1")']
        # foo was published first on the same connection: had it been delivered, it would
        # be queued before bar's message was.
        assert foo.pending_msgs == 0
        # New connections see the new limit; the existing one keeps the old INFO.
        fresh = await nats.connect(url, user="b", password="b")
        assert fresh.max_payload == 2000
        await fresh.close()
        await nc.close()


async def test_reload_refuses_fixed_settings_and_bad_configs() -> None:
    async with natskern(USERS) as broker:
        port = broker.config["tcp"]["port"]
        with pytest.raises(ReloadError, match=r"server\.name"):
            reload_config(broker, {**USERS, "tcp": {"port": port}, "server": {"name": "other"}})
        with pytest.raises(ReloadError, match="monitoring"):
            reload_config(broker, {**USERS, "tcp": {"port": port}, "monitoring": {"enabled": True}})
        with pytest.raises(ReloadError, match="max_payload"):
            reload_config(broker, {**USERS, "tcp": {"port": port}, "server": {"max_payload": "x"}})
        assert broker.options["max_payload"] == 1024 * 1024  # unchanged


def test_config_changes_lists_what_nats_server_logs() -> None:
    old = {"server": {"max_payload": 1, "name": ""}, "auth": {"users": []}, "tcp": {"port": 1}}
    new = {"server": {"max_payload": 2, "name": ""}, "auth": {"users": [1]}, "tcp": {"port": 1}}
    assert config_changes(old, new) == ["auth", "max_payload = 2"]
    assert config_changes(old, old) == []
    with pytest.raises(ReloadError, match=r"tcp\.port: old=1, new=2"):
        config_changes(old, {**old, "tcp": {"port": 2}})
    with pytest.raises(ReloadError, match=r"auth\.system_account"):
        config_changes({"auth": {"system_account": "S"}}, {"auth": {"system_account": "T"}})
    # users of an account may change, its exports and imports may not
    accounts = {"accounts": {"A": {"users": [], "exports": [{"stream": "a"}]}}}
    more_users = {"accounts": {"A": {"users": [1], "exports": [{"stream": "a"}]}}}
    assert config_changes(accounts, more_users) == ["accounts"]
    with pytest.raises(ReloadError, match=r"accounts\.A\.exports"):
        config_changes(accounts, {"accounts": {"A": {"users": []}}})


async def test_handlers_without_a_reloader_log_an_error(caplog: pytest.LogCaptureFixture) -> None:
    async with natskern() as broker:
        handlers = SignalHandlers(broker)
        with caplog.at_level(logging.ERROR, logger="natskern"):
            handlers.on_reload()
        assert "Failed to reload server configuration" in caplog.text
        # SIGTERM is ignored while lame-duck mode runs, SIGINT is not
        broker.lame_duck = True
        handlers.on_terminate()
        assert not handlers.stop.is_set()
        handlers.on_interrupt()
        assert handlers.stop.is_set()
