"""Fixtures for the mapping tests: the built-in functions and a generic server harness.

The differential tests describe mappings once, as the Python structure of a ``mappings``
section (``{source: destination | [{"destination": ..., "weight": ...}, ...]}``), and run
them on every available *target*: a server started with that section, which the tests
feed random subjects through nats-py while a ``>`` subscriber records what arrives.

Targets today: ``nats-server`` (when on PATH, config rendered to its file syntax) and
``natskern-server`` (same file, same flags, when on PATH).  To add the in-process broker
once it reads ``[mappings]``, append a target whose ``serve`` yields its client URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nats
import pluggy
import pytest
from natskern.kernel import hookspecs
from natskern.kernel.subjects.transform import MappingFunction, collect_functions

from natskern.defaults import MAPPER_PLUGINS

#: Subject published after every test subject; its arrival means all earlier ones did.
SENTINEL = "zz.sentinel.done"
_START_TIMEOUT = 10.0


def mapper_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with the hookspecs and every built-in mapper plugin registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name, module in MAPPER_PLUGINS:
        pm.register(importlib.import_module(module), name=name)
    return pm


@pytest.fixture(scope="session")
def functions() -> dict[str, MappingFunction]:
    """The built-in mapping functions, collected through the registration hook."""
    return collect_functions(mapper_plugin_manager())


@pytest.fixture
def functions_with() -> Callable[..., dict[str, MappingFunction]]:
    """``functions_with(*plugins)``: built-ins plus plugins named ``third-party-<i>``."""

    def collect(*plugins: object) -> dict[str, MappingFunction]:
        pm = mapper_plugin_manager()
        for i, plugin in enumerate(plugins):
            pm.register(plugin, name=f"third-party-{i}")
        return collect_functions(pm)

    return collect


# --------------------------------------------------------------------------- targets


class ConfigRejected(Exception):
    """The target refused the configuration (the server exited at start-up)."""


def render_nats_conf(mappings: Mapping[str, Any]) -> str:
    """A nats-server config file holding ``mappings`` (strings quoted JSON-style)."""
    lines = ["mappings: {"]
    for source, value in mappings.items():
        if isinstance(value, str):
            lines.append(f"  {json.dumps(source)}: {json.dumps(value)}")
            continue
        lines.append(f"  {json.dumps(source)}: [")
        for entry in value:
            fields = ", ".join(f"{k}: {json.dumps(v)}" for k, v in entry.items())
            lines.append(f"    {{{fields}}}")
        lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    from tests.support.servers import free_port

    return free_port()


class ProcessTarget:
    """A server binary taking nats-server's flags: ``-c FILE -a HOST -p PORT``."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def available(self) -> bool:
        """True when the binary is on PATH."""
        return shutil.which(self.name) is not None

    @contextlib.asynccontextmanager
    async def serve(self, mappings: Mapping[str, Any]) -> AsyncIterator[str]:
        """Run the server with ``mappings``; yield its URL; raise ConfigRejected if it exits."""
        with tempfile.TemporaryDirectory() as tmp:
            conf = Path(tmp) / "mappings.conf"
            conf.write_text(render_nats_conf(mappings))
            port = _free_port()
            proc = await asyncio.create_subprocess_exec(
                self.name,
                *("-c", str(conf), "-a", "127.0.0.1", "-p", str(port)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                await self._wait_ready(proc, port)
                yield f"nats://127.0.0.1:{port}"
            finally:
                if proc.returncode is None:
                    proc.terminate()
                await proc.communicate()

    async def _wait_ready(self, proc: asyncio.subprocess.Process, port: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT
        while loop.time() < deadline:
            if proc.returncode is not None:
                _, err = await proc.communicate()
                raise ConfigRejected(err.decode(errors="replace").strip())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return
        raise TimeoutError(f"{self.name} did not listen on port {port}")


#: Every target the differential tests know; unavailable ones are skipped.
TARGETS: dict[str, ProcessTarget] = {
    "nats-server": ProcessTarget("nats-server"),
    "natskern-server": ProcessTarget("natskern-server"),
}


@pytest.fixture(params=sorted(TARGETS))
def target(request: pytest.FixtureRequest) -> ProcessTarget:
    """Each available server target in turn (skips the ones not installed)."""
    t = TARGETS[request.param]
    if not t.available:
        pytest.skip(f"{t.name} is not on PATH")
    return t


# --------------------------------------------------------------------------- traffic


async def publish_and_collect(url: str, subjects: Sequence[str]) -> list[str | None]:
    """Publish each subject once; return the subject each one arrived on (None: dropped).

    One connection subscribes to ``>`` and publishes every subject with its index as
    payload, then :data:`SENTINEL`; the server keeps one connection's messages in order,
    so once the sentinel arrives everything that will ever arrive has.
    """
    received: list[str | None] = [None] * len(subjects)
    done = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        if msg.subject == SENTINEL:
            done.set()
            return
        index = int(msg.data)
        assert received[index] is None, f"message {index} ({subjects[index]}) arrived twice"
        received[index] = msg.subject

    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5)
    try:
        await nc.subscribe(">", cb=on_msg)
        await nc.flush()
        for index, subject in enumerate(subjects):
            await nc.publish(subject, str(index).encode())
        await nc.publish(SENTINEL, b"")
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await nc.close()
    return received


@pytest.fixture
def collect() -> Callable[[str, Sequence[str]], Any]:
    """:func:`publish_and_collect` as a fixture (conftest modules are not importable)."""
    return publish_and_collect


@pytest.fixture
def serve(
    target: ProcessTarget,
) -> Callable[..., contextlib.AbstractAsyncContextManager[str]]:
    """``async with serve(mappings) as url``: the current target running ``mappings``.

    With ``skip_if_rejected=True`` a target that refuses the configuration (an older
    nats-server without some function) skips the test instead of failing it.
    """

    @contextlib.asynccontextmanager
    async def run(
        mappings: Mapping[str, Any], *, skip_if_rejected: bool = False
    ) -> AsyncIterator[str]:
        try:
            async with target.serve(mappings) as url:
                yield url
        except ConfigRejected as err:
            if not skip_if_rejected:
                raise
            pytest.skip(f"{target.name} rejects this configuration: {err}")

    return run


@pytest.fixture
def rejects(target: ProcessTarget) -> Callable[[Mapping[str, Any]], Any]:
    """``await rejects(mappings)``: the target's start-up error text, or None if it starts."""

    async def check(mappings: Mapping[str, Any]) -> str | None:
        try:
            async with target.serve(mappings):
                return None
        except ConfigRejected as err:
            return str(err)

    return check
