"""nats-server's command line, parsed the way Go's ``flag`` package does it.

Accepted forms: ``-p 4222``, ``--port 4222``, ``-p=4222``, ``--port=4222``; boolean
flags take no separate value (``-js``, ``-DV``) but accept ``-js=false``.  Parsing stops
at the first argument that is not a flag (or after ``--``); the rest are positional
(nats-server understands ``version`` and ``help`` there).  ``-DV`` is a flag of its own,
as in nats-server (there is no bundling of single letters).

:func:`parse_flags` returns :class:`Options`; :func:`apply_flags` lays them over a parsed
config tree so that flags override the file exactly where nats-server's do (``-p``
overrides the port of ``listen``, ``--user`` the user of ``authorization {}``, any TLS
flag replaces the file's ``tls {}`` block, ``-sd`` sets JetStream's store directory...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from natskern.natsconf.errors import NatsConfError
from natskern.natsconf.parser import ConfList, ConfMap, Pos

__all__ = ["FLAGS", "FLAG_POS", "FlagError", "Options", "apply_flags", "parse_flags"]

#: The position flag values report in errors.
FLAG_POS = Pos("<command line>", 0, 0)


class FlagError(Exception):
    """A command line Go's flag package would reject; ``str()`` is Go's message."""


@dataclass(frozen=True)
class FlagSpec:
    """One option: its names (without dashes), where it is stored, and its type."""

    names: tuple[str, ...]
    dest: str
    kind: type


def _specs(kind: type, *groups: tuple[str, ...]) -> list[FlagSpec]:
    # the last (longest) name of each group names its destination
    return [FlagSpec(names, names[0] if len(names) == 1 else names[-1], kind) for names in groups]


#: Every flag nats-server 2.9 defines (plus ``logtime_utc`` from later versions).
FLAGS: tuple[FlagSpec, ...] = (
    *_specs(
        bool,
        ("h", "help"),
        ("v", "version"),
        ("help_tls",),
        ("t",),
        ("T", "logtime"),
        ("logtime_utc",),
        ("s", "syslog"),
        ("D", "debug"),
        ("V", "trace"),
        ("VV",),
        ("DV",),
        ("DVV",),
        ("js", "jetstream"),
        ("tls",),
        ("tlsverify",),
        ("no_advertise",),
    ),
    *_specs(
        int,
        ("p", "port"),
        ("m", "http_port"),
        ("ms", "https_port"),
        ("connect_retries",),
        ("profile",),
        ("max_traced_msg_len",),
        ("log_size_limit",),
    ),
    *_specs(
        str,
        ("a", "net", "addr"),
        ("n", "name", "server_name"),
        ("P", "pid"),
        ("c", "config"),
        ("sl", "signal"),
        ("client_advertise",),
        ("ports_file_dir",),
        ("l", "log"),
        ("r", "remote_syslog"),
        ("sd", "store_dir"),
        ("user",),
        ("pass",),
        ("auth",),
        ("tlscert",),
        ("tlskey",),
        ("tlscacert",),
        ("routes",),
        ("cluster", "cluster_listen"),
        ("cluster_name",),
        ("cluster_advertise",),
    ),
)
_BY_NAME: dict[str, FlagSpec] = {name: spec for spec in FLAGS for name in spec.names}

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT64 = 2**63


@dataclass
class Options:
    """Parsed flags: ``values`` by destination name, in the order given; ``args`` positional."""

    values: dict[str, Any] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def get(self, dest: str, default: Any = None) -> Any:
        """The value of flag ``dest`` (its last name, e.g. ``"port"``), or ``default``."""
        return self.values.get(dest, default)

    def __contains__(self, dest: str) -> bool:
        return dest in self.values


def _go_int(text: str) -> int:
    """``strconv.ParseInt(text, 0, 64)``: base prefixes, leading-zero octal, underscores."""
    sign, rest = 1, text
    if rest[:1] in ("+", "-"):
        sign, rest = (-1 if rest[0] == "-" else 1), rest[1:]
    base, digits = 10, rest
    prefix = rest[:2].lower()
    if prefix in ("0x", "0b", "0o"):
        base, digits = {"0x": 16, "0b": 2, "0o": 8}[prefix], rest[2:]
    elif rest.startswith("0") and len(rest) > 1:
        base, digits = 8, rest[1:]
    if not re.fullmatch(r"[0-9a-zA-Z]+(_[0-9a-zA-Z]+)*", digits or "-"):
        raise ValueError("parse error")
    try:
        value = sign * int(digits.replace("_", ""), base)
    except ValueError:
        raise ValueError("parse error") from None
    if not -_INT64 <= value < _INT64:
        raise ValueError("value out of range")
    return value


def _convert(spec: FlagSpec, name: str, raw: str | None) -> Any:
    if spec.kind is bool:
        if raw is None:
            return True
        if raw in _GO_TRUE:
            return True
        if raw in _GO_FALSE:
            return False
        raise FlagError(f'invalid boolean value "{raw}" for -{name}: parse error')
    assert raw is not None
    if spec.kind is int:
        try:
            return _go_int(raw)
        except ValueError as exc:
            raise FlagError(f'invalid value "{raw}" for flag -{name}: {exc}') from None
    return raw


def parse_flags(argv: list[str]) -> Options:
    """Parse ``argv`` (without the program name) like Go's ``flag.FlagSet.Parse``.

    Raises :class:`FlagError` with Go's message for an undefined flag, a missing or bad
    value, or bad syntax (``---x``).
    """
    opts = Options()
    args = list(argv)
    while args:
        arg = args[0]
        if len(arg) < 2 or arg[0] != "-":
            break
        dashes = 2 if arg[1] == "-" else 1
        if dashes == 2 and len(arg) == 2:
            args.pop(0)
            break
        name = arg[dashes:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        args.pop(0)
        raw: str | None = None
        if "=" in name[1:]:
            name, raw = name.split("=", 1)
        spec = _BY_NAME.get(name)
        if spec is None:
            raise FlagError(f"flag provided but not defined: -{name}")
        if spec.kind is not bool and raw is None:
            if not args:
                raise FlagError(f"flag needs an argument: -{name}")
            raw = args.pop(0)
        opts.values.pop(spec.dest, None)  # keep "last given" order
        opts.values[spec.dest] = _convert(spec, name, raw)
    opts.args = args
    return opts


# -- laying flags over the config tree ----------------------------------------------------


def _put(conf: ConfMap, key: str, value: Any, *aliases: str) -> None:
    """Set ``key`` last in ``conf`` (so it is read after the file's keys), dropping aliases."""
    for existing in [k for k in conf if k.lower() in (key, *aliases)]:
        del conf[existing]
        conf.positions.pop(existing, None)
    conf.set(key, value, FLAG_POS)


def _submap(conf: ConfMap, key: str, *aliases: str) -> ConfMap:
    """A copy of the map under ``key`` (or a new one), re-set last in ``conf``."""
    names = (key, *aliases)
    current = next(
        (conf[k] for k in conf if k.lower() in names and isinstance(conf[k], Mapping)), None
    )
    copy = ConfMap(FLAG_POS)
    if isinstance(current, ConfMap):
        copy.pos = current.pos
        for k, v in current.items():
            copy.set(k, v, current.position(k))
        copy.used = set(current.used)
    elif current is not None:
        for k, v in current.items():
            copy.set(k, v, FLAG_POS)
    _put(conf, key, copy, *aliases)
    return copy


def _host_port_of(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise NatsConfError(f"could not parse cluster URL {url!r}: expected nats://host:port")
    host = parts.hostname or "0.0.0.0"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def apply_flags(parsed: Mapping[str, Any], opts: Options) -> ConfMap:
    """A copy of ``parsed`` with the command line applied on top, as nats-server does.

    Raises :class:`~natskern.natsconf.errors.NatsConfError` for flag combinations
    nats-server refuses (``--routes`` without ``--cluster`` or a cluster block).
    """
    conf = ConfMap(parsed.pos if isinstance(parsed, ConfMap) else None)
    for key, value in parsed.items():
        conf.set(key, value, parsed.position(key) if isinstance(parsed, ConfMap) else None)
    if isinstance(parsed, ConfMap):
        conf.used = set(parsed.used)
    v = opts.values
    simple = {
        "port": ("port",),
        "addr": ("host", "net"),
        "server_name": ("server_name",),
        "pid": ("pidfile", "pid_file"),
        "http_port": ("http_port", "monitor_port"),
        "https_port": ("https_port",),
        "client_advertise": ("client_advertise",),
        "ports_file_dir": ("ports_file_dir",),
        "log": ("logfile", "log_file"),
        "logtime": ("logtime",),
        "logtime_utc": ("logtime_utc",),
        "syslog": ("syslog",),
        "remote_syslog": ("remote_syslog",),
        "log_size_limit": ("logfile_size_limit", "log_size_limit"),
        "max_traced_msg_len": ("max_traced_msg_len",),
        "profile": ("prof_port",),
    }
    for dest, (key, *aliases) in simple.items():
        if dest in v:
            _put(conf, key, v[dest], *aliases)
    debug, trace, verbose = v.get("debug"), v.get("trace"), v.get("VV")
    if v.get("DV") or v.get("DVV"):
        debug = trace = True
    if v.get("DVV") or verbose:
        trace = verbose = True
    if debug is not None:
        _put(conf, "debug", debug)
    if trace is not None:
        _put(conf, "trace", trace)
    if verbose:
        _put(conf, "trace_verbose", True)
    _apply_jetstream(conf, v)
    _apply_auth(conf, v)
    _apply_tls(conf, v)
    _apply_cluster(conf, v)
    return conf


def _jetstream_value(conf: ConfMap) -> Any:
    return next((conf[k] for k in conf if k.lower() == "jetstream"), None)


def _apply_jetstream(conf: ConfMap, v: dict[str, Any]) -> None:
    if "jetstream" in v:
        if v["jetstream"] and isinstance(_jetstream_value(conf), Mapping):
            _put(_submap(conf, "jetstream"), "enabled", True)
        else:
            _put(conf, "jetstream", v["jetstream"])
    if "store_dir" in v:
        if isinstance(_jetstream_value(conf), Mapping):
            js = _submap(conf, "jetstream")
            _put(js, "store_dir", v["store_dir"], "store", "storedir")
            for key in [k for k in conf if k.lower() in ("store_dir", "storedir")]:
                del conf[key]
        else:
            _put(conf, "store_dir", v["store_dir"], "storedir")


_AUTH_FLAGS = (
    ("user", "user", ("username",)),
    ("pass", "password", ("pass",)),
    ("auth", "token", ()),
)


def flag_notices(conf: Mapping[str, Any]) -> list[str]:
    """What :func:`apply_flags` left out, to be logged as warnings when the server starts."""
    return list(getattr(conf, "notices", []))


def _apply_auth(conf: ConfMap, v: dict[str, Any]) -> None:
    wanted = [(dest, key, aliases) for dest, key, aliases in _AUTH_FLAGS if dest in v]
    if not wanted:
        return
    current = next(
        (conf[k] for k in conf if k.lower() == "authorization" and isinstance(conf[k], Mapping)),
        None,
    )
    if current is not None and any(k.lower() == "users" for k in current):
        # nats-server 2.9.10 starts and uses the users array alone: the --user/--pass
        # user is never checked (configureAuthorization looks at opts.Users first).
        # natskern does the same, and says so instead of ignoring the flags silently.
        given = [f"--{dest}" for dest, _key, _aliases in wanted if dest in ("user", "pass")]
        if given:
            conf.notices = [  # type: ignore[attr-defined]
                *flag_notices(conf),
                f"{' and '.join(given)} ignored: the configuration file has an authorization"
                " users array, and only its users can connect (as with nats-server 2.9)",
            ]
        wanted = [w for w in wanted if w[0] not in ("user", "pass")]
        if not wanted:
            return
    auth = _submap(conf, "authorization")
    for dest, key, aliases in wanted:
        _put(auth, key, v[dest], *aliases)


def _apply_tls(conf: ConfMap, v: dict[str, Any]) -> None:
    names = ("tls", "tlscert", "tlskey", "tlscacert", "tlsverify")
    if not any(name in v for name in names):
        return
    if v.get("tls") is False:
        for key in [k for k in conf if k.lower() == "tls"]:
            del conf[key]
        return
    tls = ConfMap(FLAG_POS)
    for dest, key in (("tlscert", "cert_file"), ("tlskey", "key_file"), ("tlscacert", "ca_file")):
        if dest in v:
            tls.set(key, v[dest], FLAG_POS)
    if v.get("tlsverify"):
        tls.set("verify", True, FLAG_POS)
    _put(conf, "tls", tls)


_CLUSTER_FLAGS = (
    "cluster_listen",
    "routes",
    "cluster_name",
    "cluster_advertise",
    "no_advertise",
    "connect_retries",
)


def _apply_cluster(conf: ConfMap, v: dict[str, Any]) -> None:
    if not any(name in v for name in _CLUSTER_FLAGS):
        return
    cluster = _submap(conf, "cluster")
    if "cluster_listen" in v:
        _put(cluster, "listen", _host_port_of(v["cluster_listen"]), "host", "net", "port")
    if "routes" in v:
        has_listen = any(k.lower() in ("listen", "port") for k in cluster)
        if not has_listen:
            raise NatsConfError("solicited routes require cluster capabilities, e.g. --cluster")
        routes = ConfList(FLAG_POS)
        for route in v["routes"].split(","):
            if route.strip():
                routes.add(route.strip(), FLAG_POS)
        _put(cluster, "routes", routes)
    for dest, key in (
        ("cluster_name", "name"),
        ("cluster_advertise", "advertise"),
        ("no_advertise", "no_advertise"),
        ("connect_retries", "connect_retries"),
    ):
        if dest in v:
            _put(cluster, key, v[dest])
