"""The file store's record log: block files, two-copy metadata, side logs (see :mod:`.log`)."""

from natskern.plugins.storage.filelog.log import DEFAULT_BLOCK_SIZE, FileLog

__all__ = ["DEFAULT_BLOCK_SIZE", "FileLog"]
