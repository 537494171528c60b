"""Which durable backend holds a stream: server, account and stream-metadata choices.

A client's ``storage: "file"`` names the durable backend, and ``memory`` the memory
one.  Which durable backend (``file``, ``rocksdb``, any registered one) is decided,
the first that says so winning:

1. the stream's metadata key ``natskern.store_backend`` (read when the stream is
   created, and again when it is reopened at restart: the metadata is in the
   stored config);
2. the account's ``jetstream { store_backend: ... }``;
3. the server's ``jetstream { store_backend: ... }``;
4. ``file``.

Once a stream is opened, the backend it was opened with is recorded in its
directory (``store.backend``), and a later open uses that one whatever the
configuration says then (with a warning when they differ): changing a default
never reopens existing streams empty in another format.

An unknown name in the metadata (or the key on a ``memory`` stream) refuses the
create with JetStream error 10052, the stream not created.  A stream UPDATE that
changes the key to a backend other than the stream's own is refused like
nats-server refuses a change of storage type: ``stream configuration update can
not change store backend``.  An update that leaves the key alone always passes.

:class:`StorageChoice` is the ``storage`` mapping of the engine's settings; the
engine calls :func:`check_backend`, :func:`store_factory` and
:func:`check_backend_update`, which also accept a plain mapping (no choice: the
stream's ``storage`` indexes it).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.store.api import StoreConfig, StoreIOError, StreamStore, StreamStoreFactory

__all__ = [
    "BACKEND_KEY",
    "MARKER",
    "StorageChoice",
    "check_backend",
    "check_backend_update",
    "store_factory",
]

log = logging.getLogger("natskern.jetstream")

#: The stream metadata key that picks the stream's durable backend.
BACKEND_KEY = "natskern.store_backend"
#: The file in a stream's directory naming the backend it was opened with.
MARKER = "store.backend"


def _invalid(text: str) -> E.ApiError:
    return E.STREAM_INVALID_CONFIG(err=text)


class StorageChoice(Mapping[str, StreamStoreFactory]):
    """The registered backends, the server's durable default and the accounts' ones.

    As a mapping it is what the engine always had: ``memory``, and ``file`` = the
    server's durable default (plus every backend under its own name).
    """

    def __init__(
        self,
        backends: Mapping[str, StreamStoreFactory],
        durable: str = "file",
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        self.backends = dict(backends)
        self.durable = durable
        self.accounts = dict(accounts or {})
        #: Stream directory -> the backend it was opened with.
        self.opened: dict[str, str] = {}

    def __getitem__(self, key: str) -> StreamStoreFactory:
        return self.backends[self.durable] if key == "file" else self.backends[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self.backends, "file": None})

    def __len__(self) -> int:
        return len({**self.backends, "file": None})

    def durable_names(self) -> list[str]:
        """The backends a durable stream may name (every one but ``memory``)."""
        return sorted(n for n in self.backends if n != "memory")

    def pick(self, account: str, cfg: StreamConfig) -> str:
        """The backend ``cfg`` asks for in ``account`` (ApiError 10052 for a bad key)."""
        wanted = (cfg.metadata or {}).get(BACKEND_KEY)
        if cfg.storage == "memory":
            if wanted is not None:
                raise _invalid(f"{BACKEND_KEY} applies to file storage, not memory")
            return "memory"
        if wanted is not None:
            if wanted not in self.durable_names():
                known = ", ".join(self.durable_names())
                raise _invalid(f"{BACKEND_KEY}: no storage backend {wanted!r} (known: {known})")
            return wanted
        return self.accounts.get(account) or self.durable

    def actual(self, directory: str) -> str | None:
        """The backend the stream in ``directory`` was opened with, if it is known."""
        name = self.opened.get(directory)
        return name if name is not None else read_marker(directory)

    def factory(self, account: str, cfg: StreamConfig) -> StreamStoreFactory:
        """The factory that opens ``cfg``'s store (see the module docstring)."""
        chosen = self.pick(account, cfg)
        if chosen == "memory":
            return self.backends["memory"]

        async def open_store(
            config: StoreConfig, directory: str, *, sync: str | int
        ) -> StreamStore:
            name = read_marker(directory) or chosen
            if name != chosen:
                log.warning(
                    "stream %s: its store is in backend %r (recorded in %s), not %r as the "
                    "configuration now says: opened in %r",
                    cfg.name,
                    name,
                    MARKER,
                    chosen,
                    name,
                )
            backend = self.backends.get(name)
            if backend is None:
                raise StoreIOError(f"stream {cfg.name}: storage backend {name!r} is not loaded")
            store = await backend(config, directory, sync=sync)
            if name != read_marker(directory):
                await asyncio.to_thread(write_marker, directory, name)
            self.opened[directory] = name
            return store

        return open_store


def read_marker(directory: str) -> str | None:
    """The backend named by the stream directory's marker file, or None."""
    try:
        with open(os.path.join(directory, MARKER), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def write_marker(directory: str, name: str) -> None:
    """Record the stream's backend (written once per stream, synced with its directory)."""
    path = os.path.join(directory, MARKER)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, name.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _account_name(account: Any) -> str:
    return str(getattr(account, "name", account))


def check_backend(
    storage: Mapping[str, StreamStoreFactory], account: Any, cfg: StreamConfig
) -> None:
    """Before a stream is created: refuse a backend key naming no durable backend (10052)."""
    if isinstance(storage, StorageChoice):
        storage.pick(_account_name(account), cfg)
    elif BACKEND_KEY in (cfg.metadata or {}):
        wanted = cfg.metadata[BACKEND_KEY]
        if cfg.storage == "memory" or wanted == "memory" or wanted not in storage:
            raise _invalid(f"{BACKEND_KEY}: no storage backend {wanted!r}")


def store_factory(
    storage: Mapping[str, StreamStoreFactory], account: Any, cfg: StreamConfig
) -> StreamStoreFactory:
    """The factory of ``cfg``'s store: the engine's one call to open it."""
    if isinstance(storage, StorageChoice):
        return storage.factory(_account_name(account), cfg)
    wanted = (cfg.metadata or {}).get(BACKEND_KEY)
    if wanted is not None and cfg.storage != "memory" and wanted in storage:
        return storage[wanted]
    return storage[cfg.storage]


def check_backend_update(
    storage: Mapping[str, StreamStoreFactory],
    account: Any,
    old: StreamConfig,
    new: StreamConfig,
    directory: str,
) -> None:
    """Refuse an UPDATE whose backend key would move the stream to another backend (10052)."""
    key_old = (old.metadata or {}).get(BACKEND_KEY)
    key_new = (new.metadata or {}).get(BACKEND_KEY)
    if key_old == key_new:
        return
    if not isinstance(storage, StorageChoice):
        raise _invalid("stream configuration update can not change store backend")
    wanted = storage.pick(_account_name(account), new)
    actual = storage.actual(directory) or storage.pick(_account_name(account), old)
    if wanted != actual:
        raise _invalid("stream configuration update can not change store backend")
