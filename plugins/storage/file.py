"""The ``file`` storage backend: JetStream streams in block files on a local disk.

Durable by default: a write is acknowledged once its group's single ``pwrite``
and ``fdatasync`` are done (see :mod:`natskern.plugins.storage.filelog`).

Options (``StoreConfig.options``, from the server config or stream metadata):

``block_size``
    the size in bytes at which a block file rotates (default 8 MiB, see
    :data:`~natskern.plugins.storage.filelog.DEFAULT_BLOCK_SIZE`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.store.api import StoreConfig
from natskern.kernel.store.base import LogStore
from natskern.plugins.storage.filelog import DEFAULT_BLOCK_SIZE, FileLog

__all__ = ["FileLogFactory", "open_file_store", "register_storage_backends"]


class FileLogFactory:
    """Builds the :class:`FileLog` of one stream: ``FileLogFactory(directory, sync=...)``."""

    def __new__(  # type: ignore[misc]
        cls,
        directory: str,
        *,
        sync: str | int = "always",
        options: Mapping[str, Any] | None = None,
        block_size: int | None = None,
    ) -> FileLog:
        """The log object (no I/O: that happens in :meth:`FileLog.open`)."""
        opts = dict(options or {})
        size = block_size or opts.get("block_size") or opts.get("file.block_size")
        return FileLog(directory, sync=sync, block_size=int(size or DEFAULT_BLOCK_SIZE))


async def open_file_store(config: StoreConfig, directory: str, *, sync: str | int) -> LogStore:
    """The registered factory: ``LogStore`` over a :class:`FileLog` honouring the options.

    (``LogStore.factory(FileLogFactory)`` would do the same without the options:
    the base hands a log factory only the directory and the sync mode.)
    """
    log = FileLogFactory(directory, sync=sync, options=config.options)
    return await LogStore.open(log, config, sync=sync)


@hookimpl
def register_storage_backends(register: Register) -> None:
    """Register ``file``."""
    register("file", open_file_store)
