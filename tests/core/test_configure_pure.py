"""``configure`` opens nothing: ``-t``, ``config check`` and reload checks build brokers never started.

A broker is built with every built-in feature switched on (listeners, monitoring,
account wiring, mappings, JetStream and cluster blocks): until ``async with``, no
file descriptor, task, listener or lifespan exists; then they all do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from natskern import Broker, hookimpl
from natskern.natsconf.main import check, main
from tests.support.servers import free_port


class Recorder:
    """Records when its lifespan is entered and left."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def configure(self, broker: Broker, config: dict[str, Any]) -> None:
        self.events.append("configure")

    @hookimpl
    def lifespan(self, broker: Broker) -> contextlib.AbstractAsyncContextManager[None]:
        return self._running()

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        self.events.append("enter")
        yield
        self.events.append("exit")


def _everything(tmp_path: Path) -> tuple[dict[str, Any], list[int]]:
    ports = [free_port(), free_port(), free_port()]
    config = {
        "tcp": {"port": ports[0]},
        "unix": {"path": str(tmp_path / "nats.sock")},
        "websocket": {"enabled": True, "port": ports[1], "no_tls": True},
        "monitoring": {"enabled": True, "port": ports[2]},
        "mappings": {"a.*": "b.{{wildcard(1)}}"},
        "accounts": {
            "A": {"exports": [{"service": "svc.>"}], "mappings": {"x": "y"}},
            "B": {
                "imports": [{"service": {"account": "A", "subject": "svc.>"}}],
                "jetstream": {"max_memory": 1024},
            },
        },
        "jetstream": {"enabled": True, "store_dir": str(tmp_path / "js")},
        "cluster": {"name": "c", "listen": "127.0.0.1:6222"},
    }
    return config, ports


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_a_broker_that_is_not_started_has_opened_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, ports = _everything(tmp_path)
    Broker(config)  # imports and caches warmed up
    recorder = Recorder()
    fds, tasks = _open_fds(), asyncio.all_tasks()
    with caplog.at_level(logging.INFO, logger="natskern"):
        broker = Broker(config, plugins=[recorder])
        broker.check_config(config)  # what a reload checks first
    assert _open_fds() == fds
    assert asyncio.all_tasks() == tasks
    assert recorder.events == ["configure", "configure"]
    assert broker.listeners == [] and broker.listen_urls == []
    assert not (tmp_path / "nats.sock").exists() and not (tmp_path / "js").exists()
    assert all(_bindable(port) for port in ports)
    assert caplog.text == ""  # nothing said yet: notices belong to the start
    async with broker:
        assert recorder.events[-1] == "enter"
        assert len(broker.listeners) == 3
        assert (tmp_path / "nats.sock").exists()
        assert not any(_bindable(port) for port in ports)
        assert broker.info().get("jetstream") is True
        assert "Clustering was requested but is not implemented yet" in caplog.text
    assert recorder.events[-1] == "exit"
    assert all(_bindable(port) for port in ports)


def test_the_nats_server_check_builds_the_broker_without_starting_it(tmp_path: Path) -> None:
    config, ports = _everything(tmp_path)
    check(config)
    fds = _open_fds()
    check(config)
    assert _open_fds() == fds
    assert all(_bindable(port) for port in ports)


def test_dash_t_runs_what_a_start_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # issue 14 item 8: this passed -t and failed at start
    path = tmp_path / "m.conf"
    path.write_text('mappings { "a.*": "b.{{wildcard(2)}}" }\n')
    assert main(["-t", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("natskern-server: mapping 'a.*' -> 'b.{{wildcard(2)}}': wildcard index")
    # the accounts plugin's wiring check, past the schema (nats-server -t refuses it too)
    path.write_text('accounts { A: {}, B: { imports: [{service: {account: A, subject: "x"}}] } }')
    assert main(["-t", "-c", str(path)]) == 1
    assert 'service import "x": service import not authorized' in capsys.readouterr().err
    # and a good file opens nothing, not even its monitoring port
    port = free_port()
    path.write_text(f"port: {free_port()}\nhttp_port: {port}\njetstream: enabled\n")
    assert main(["-t", "-c", str(path)]) == 0
    assert capsys.readouterr().err == f"natskern-server: configuration file {path} is valid\n"
    assert _bindable(port)
