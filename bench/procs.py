"""Load-generator worker processes, each tied to the parent by a pipe.

Workers are started from a forkserver preloaded with the main script and the load-generator
modules, so the parent's threads (the progress display) never leak into a child and a
child starts in milliseconds.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from typing import Any

#: Seconds to wait for a worker's "ready" (connect + handshake + subscribe).
READY_TIMEOUT = 60.0

_CTX = mp.get_context("forkserver")
_CTX.set_forkserver_preload(["__main__", "loadgen", "loadgen_rr", "loadgen_js"])


class WorkerError(Exception):
    """A worker failed, timed out, or reported an error."""


class Worker:
    """One worker process: start it, wait until ready, command it, collect its result."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        """Start ``target(pipe_end, *args)`` in a new process."""
        self._conn, child = _CTX.Pipe()
        self.name = getattr(target, "__name__", "worker")
        self._proc = _CTX.Process(target=target, args=(child, *args), daemon=True)
        self._proc.start()
        child.close()

    def _receive(self, timeout: float) -> tuple[str, Any]:
        if not self._conn.poll(timeout):
            raise WorkerError(f"{self.name}: no answer within {timeout:.0f}s")
        try:
            kind, value = self._conn.recv()
        except EOFError as exc:
            raise WorkerError(f"{self.name}: exited unexpectedly") from exc
        if kind == "error":
            raise WorkerError(f"{self.name}: {value}")
        return kind, value

    def ready(self, timeout: float = READY_TIMEOUT) -> Any:
        """Wait for the worker's ``("ready", info)`` and return ``info``."""
        kind, value = self._receive(timeout)
        if kind != "ready":
            raise WorkerError(f"{self.name}: expected ready, got {kind}")
        return value

    def send(self, command: str) -> None:
        """Send a command (``"go"``, ``"finish"``, ``"close"``).

        If the worker has already ended, raise the error it reported instead.
        """
        try:
            self._conn.send(command)
        except OSError as exc:
            self._receive(1.0)  # raises the worker's own error when it sent one
            raise WorkerError(f"{self.name}: gone before {command!r}") from exc

    def result(self, timeout: float) -> dict[str, Any]:
        """Wait for the worker's ``("done", result)``, reap the process, return ``result``."""
        kind, value = self._receive(timeout)
        if kind != "done":
            raise WorkerError(f"{self.name}: expected done, got {kind}")
        self._proc.join(5.0)
        return value

    def stop(self) -> None:
        """End the process if it is still running (after an error) and free the pipe."""
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5.0)
        self._conn.close()


class Workers:
    """Context manager that stops every worker started through it on exit."""

    def __init__(self) -> None:
        """Start with no workers."""
        self._all: list[Worker] = []

    def start(self, target: Callable[..., None], *args: Any) -> Worker:
        """Start a worker and remember it for cleanup."""
        worker = Worker(target, *args)
        self._all.append(worker)
        return worker

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self._all:
            worker.stop()
