"""The kernel stays the kernel: it imports neither the plugins, the application nor the CLI's libraries."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "kernel"

#: Import prefixes the kernel must never use (plugins, application, CLI and client libraries).
FORBIDDEN = (
    "natskern.plugins",
    "natskern.cli",
    "natskern.natsconf",
    "natskern.runner",
    "natskern.defaults",
    "natskern.broker",
    "plugins",
    "click",
    "rich",
    "nats",
)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def _forbidden(module: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in FORBIDDEN)


def test_kernel_sources_import_nothing_outside_the_kernel() -> None:
    offences = []
    for path in sorted(KERNEL.rglob("*.py")):
        for line, module in _imports(path):
            if _forbidden(module) or module == "natskern" or module.startswith("."):
                offences.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not offences, "\n".join(offences)


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import click\nfrom natskern.plugins.mappers import config\n")
    assert [m for _, m in _imports(bad) if _forbidden(m)] == ["click", "natskern.plugins.mappers"]


def test_importing_the_whole_kernel_loads_no_application_module() -> None:
    modules = sorted(
        "natskern.kernel." + ".".join(p.relative_to(KERNEL).with_suffix("").parts)
        for p in KERNEL.rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if any(m == p or m.startswith(p + '.') "
        f"for p in {FORBIDDEN!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
