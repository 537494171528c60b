"""natscli-compatible context files (jsm.go ``natscontext`` format and place).

A context is one JSON file ``<root>/nats/context/<name>.json`` where root is
``$XDG_CONFIG_HOME`` or ``~/.config``; the selected context's bare name is in
``<root>/nats/context.txt``.  Files are written the way Go's
``json.MarshalIndent(v, "", "  ")`` writes them: every known key present (even
when empty) in struct order, two-space indent, ``<``/``>``/``&`` escaped, no
trailing newline, mode 0600 in a 0700 directory, replaced atomically.  So
natscli and natskern read and write each other's contexts.  Keys this module
does not know are kept as they are.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from natskern.cli.output import go_quote

__all__ = [
    "CONTEXT_KEYS",
    "DEFAULT_URL",
    "Context",
    "ContextError",
    "config_root",
    "context_dir",
    "delete_context",
    "known_contexts",
    "load_context",
    "previous_context",
    "save_context",
    "select_context",
    "selected_context",
    "unselect_context",
    "valid_name",
]

#: nats.go's ``DefaultURL``.
DEFAULT_URL = "nats://127.0.0.1:4222"

#: Every key natscli writes, in its struct order, with its empty value.
CONTEXT_KEYS: dict[str, Any] = {
    "description": "",
    "url": "",
    "socks_proxy": "",
    "token": "",
    "user": "",
    "password": "",
    "creds": "",
    "nkey": "",
    "cert": "",
    "key": "",
    "ca": "",
    "nsc": "",
    "jetstream_domain": "",
    "jetstream_api_prefix": "",
    "jetstream_event_prefix": "",
    "inbox_prefix": "",
    "user_jwt": "",
    "user_seed": "",
    "color_scheme": "",
    "tls_first": False,
    "windows_cert_store": "",
    "windows_cert_match_by": "",
    "windows_cert_match": "",
    "windows_ca_certs_match": None,
}

_PATH_KEYS = ("creds", "nkey", "cert", "key", "ca")


class ContextError(Exception):
    """A context could not be found, read, validated or written."""


class Context:
    """One named context: its settings in natscli's key order plus its file path."""

    def __init__(self, name: str = "", settings: dict[str, Any] | None = None) -> None:
        """Create a context; ``settings`` missing keys get natscli's empty values."""
        self.name = name
        self.path: Path | None = None
        self.settings: dict[str, Any] = dict(CONTEXT_KEYS)
        if settings:
            self.settings.update(settings)

    def get(self, key: str) -> Any:
        """Return one setting (empty string/False/None when unset)."""
        return self.settings.get(key, CONTEXT_KEYS.get(key, ""))

    def set(self, key: str, value: Any) -> None:
        """Set one setting."""
        self.settings[key] = value

    def expanded(self, key: str) -> str:
        """Return a path-ish setting with ``$ENV`` and a leading ``~`` expanded."""
        value = str(self.get(key) or "")
        if key in _PATH_KEYS and value:
            if value.startswith("file://"):
                value = value[len("file://") :]
            value = os.path.expanduser(os.path.expandvars(value))
        return value

    @property
    def server_url(self) -> str:
        """The configured server URL(s), ``nats://127.0.0.1:4222`` when unset."""
        return str(self.get("url") or DEFAULT_URL)

    def validate(self) -> None:
        """Refuse more than one authentication method, as jsm.go's ``Validate`` does."""
        methods = [k for k in ("user", "creds", "nkey", "nsc", "user_jwt") if self.get(k)]
        if len(methods) > 1:
            raise ContextError(
                f"context {go_quote(self.name)} sets more than one of "
                f"{', '.join(methods)}; choose one"
            )

    def to_json(self, *, with_name: bool = False) -> str:
        """Serialise like Go's ``json.MarshalIndent`` (``name`` only on request)."""
        data: dict[str, Any] = {}
        if with_name:
            data["name"] = self.name
        for key in CONTEXT_KEYS:
            data[key] = self.settings.get(key, CONTEXT_KEYS[key])
        for key, value in self.settings.items():
            if key not in data:
                data[key] = value
        return go_json(data)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Iterate ``(key, value)`` over the settings in file order."""
        return iter(self.settings.items())


def go_json(value: Any) -> str:
    """Encode like Go's ``json.MarshalIndent(v, "", "  ")`` (HTML-safe escapes)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def config_root() -> Path:
    """Return ``$XDG_CONFIG_HOME`` or ``~/.config``."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg:
        return Path(xdg)
    return Path.home() / ".config"


def context_dir() -> Path:
    """Return the directory holding the ``<name>.json`` context files."""
    return config_root() / "nats" / "context"


def valid_name(name: str) -> bool:
    """Return whether ``name`` is a valid context name (non-empty, no ``..``, ``/``, ``\\``)."""
    return bool(name) and ".." not in name and "/" not in name and "\\" not in name


def _context_path(name: str) -> Path:
    if not valid_name(name):
        raise ContextError(f"invalid context name {go_quote(name)}")
    return context_dir() / f"{name}.json"


def known_contexts() -> list[str]:
    """Return the sorted names of every non-empty ``*.json`` context file."""
    directory = context_dir()
    if not directory.is_dir():
        return []
    names = []
    for entry in directory.iterdir():
        if entry.suffix != ".json" or not entry.is_file():
            continue
        if entry.stat().st_size == 0 or not valid_name(entry.stem):
            continue
        names.append(entry.stem)
    return sorted(names)


def is_known(name: str) -> bool:
    """Return whether a context file named ``name`` exists."""
    return valid_name(name) and _context_path(name).is_file()


def load_context(name: str) -> Context:
    """Load a context by name, or from a ``.json`` path (natscli accepts both)."""
    if name.endswith(".json") and ("/" in name or os.path.isfile(name)):
        path = Path(name).expanduser()
        ctx_name = path.stem
    else:
        path = _context_path(name)
        ctx_name = name
    if not path.is_file():
        raise ContextError(f"unknown context {go_quote(name)}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise ContextError(f"could not read context {go_quote(name)}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContextError(f"could not read context {go_quote(name)}: not a JSON object")
    raw.pop("name", None)
    ctx = Context(ctx_name, raw)
    ctx.path = path
    return ctx


def save_context(ctx: Context, name: str | None = None) -> Path:
    """Write ``ctx`` atomically as ``<name>.json`` (mode 0600, directory 0700)."""
    if name:
        ctx.name = name
    path = _context_path(ctx.name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{ctx.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(ctx.to_json())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    ctx.path = path
    return path


def delete_context(name: str) -> None:
    """Delete a context file (a missing one is not an error)."""
    _context_path(name).unlink(missing_ok=True)


def _selection_file() -> Path:
    return config_root() / "nats" / "context.txt"


def _previous_file() -> Path:
    return config_root() / "nats" / "previous-context.txt"


def selected_context() -> str:
    """Return the selected context's name, ``""`` when none is selected."""
    try:
        return _selection_file().read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def previous_context() -> str:
    """Return the previously selected context's name, ``""`` when none."""
    try:
        return _previous_file().read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def select_context(name: str) -> None:
    """Make ``name`` the selected context, remembering the previous selection."""
    if not is_known(name):
        raise ContextError(f"unknown context {go_quote(name)}")
    current = selected_context()
    nats_dir = config_root() / "nats"
    nats_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if current and current != name:
        _write_private(_previous_file(), current)
    _write_private(_selection_file(), name)


def unselect_context() -> str:
    """Clear the selection; return the name that was selected (``""`` if none)."""
    current = selected_context()
    _selection_file().unlink(missing_ok=True)
    return current


def _write_private(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
