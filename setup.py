"""Package layout: the repository's folders install under the one ``natskern`` namespace.

``natskern/`` (the application and public façade) installs as ``natskern``, ``kernel/`` as
``natskern.kernel`` and ``plugins/`` as ``natskern.plugins``, so nothing generic lands at the
top of site-packages.  Everything else about the project is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

PACKAGE_DIRS = {"natskern": "natskern", "natskern.kernel": "kernel", "natskern.plugins": "plugins"}


def _packages() -> list[str]:
    found = []
    for prefix, folder in PACKAGE_DIRS.items():
        found.append(prefix)
        found.extend(f"{prefix}.{name}" for name in find_packages(folder))
    return found


setup(packages=_packages(), package_dir=PACKAGE_DIRS)
