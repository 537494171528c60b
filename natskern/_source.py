"""Running from a source checkout without installing.

Installed, ``natskern.kernel`` and ``natskern.plugins`` are subpackages inside
``natskern/`` (``setup.py`` maps the repository's ``kernel/`` and ``plugins/``
folders there).  In a checkout they are the sibling folders, so when
``natskern/`` is imported from a checkout (``python -m natskern`` or pytest from
the repository root) the package path also names those two folders.
"""

from __future__ import annotations

import os
from collections.abc import MutableSequence
from typing import TypeVar

_SIBLINGS = ("kernel", "plugins")

P = TypeVar("P", bound=MutableSequence[str])


def extend_source_path(path: P, here: str) -> P:
    """Add the checkout's root to the package path when ``here`` is ``natskern/`` in one."""
    if os.path.isdir(os.path.join(here, "kernel")):
        return path  # installed: the subpackages are inside
    root = os.path.dirname(os.path.abspath(here))
    if all(os.path.isfile(os.path.join(root, name, "__init__.py")) for name in _SIBLINGS):
        path.append(root)
    return path
