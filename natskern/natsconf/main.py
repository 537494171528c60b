"""``natskern-server``: a drop-in for the ``nats-server`` command.

It takes nats-server's flags and configuration file, prints what nats-server prints for
``-h``, ``-v``, ``-t`` and bad command lines, and otherwise runs a natskern broker with
the translated configuration (:func:`natskern.runner.run_broker`).

Messages start with the program name, which is ``nats-server`` when the script is
installed under that name (so swapping the binary changes no output) and
``natskern-server`` otherwise.  ``-v`` reports the nats-server version natskern
advertises to clients in INFO.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from natskern.kernel import const
from natskern.kernel.errors import ConfigError, NatskernError
from natskern.natsconf.errors import NatsConfError
from natskern.natsconf.flags import FlagError, Options, apply_flags, flag_notices, parse_flags
from natskern.natsconf.parser import ConfMap, parse_file
from natskern.natsconf.translate import translate_report
from natskern.natsconf.usage import TLS_HELP, usage
from natskern.natsconf.walker import Translation

__all__ = ["PROG", "check", "main", "send_signal"]

log = logging.getLogger("natskern.natsconf")

#: The program name used in messages unless the script runs as ``nats-server``.
PROG = "natskern-server"

#: ``--signal`` commands and the signals nats-server sends for them.
SIGNALS = {
    "stop": signal.SIGKILL,
    "quit": signal.SIGINT,
    "term": signal.SIGTERM,
    "reopen": signal.SIGUSR1,
    "reload": signal.SIGHUP,
    "ldm": signal.SIGUSR2,
}


def _prog(from_sys_argv: bool) -> str:
    if from_sys_argv and os.path.basename(sys.argv[0]) == "nats-server":
        return "nats-server"
    return PROG


def main(argv: list[str] | None = None) -> int:
    """Run ``natskern-server`` with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    0: success (or help/version/valid ``-t``); 1: bad configuration, bad command or
    failed signal; 2: a command line Go's flag package rejects (the message on stderr,
    the usage on stdout; nats-server 2.9 itself exits 0 there).
    """
    prog = _prog(argv is None)
    args = sys.argv[1:] if argv is None else list(argv)

    def fail(message: str) -> int:
        print(f"{prog}: {message}", file=sys.stderr)
        return 1

    try:
        opts = parse_flags(args)
    except FlagError as exc:
        print(exc, file=sys.stderr)
        print(usage(prog))
        return 2
    if opts.get("help"):
        print(usage(prog))
        return 0
    if opts.get("version"):
        print(f"{prog}: v{const.ADVERTISED_VERSION}")
        return 0
    if opts.args:
        command = opts.args[0].lower()
        if command == "version":
            print(f"{prog}: v{const.ADVERTISED_VERSION}")
            return 0
        if command == "help":
            print(usage(prog))
            return 0
        return fail(f'unrecognized command: "{opts.args[0]}"')
    if opts.get("help_tls"):
        print(TLS_HELP)
        return 0
    if "signal" in opts:
        try:
            send_signal(opts.get("signal"))
        except NatsConfError as exc:
            return fail(str(exc))
        return 0

    config_path = opts.get("config") or ""
    if opts.get("t") and not config_path:
        return fail("must specify [-c, --config] option to check configuration file syntax")
    try:
        translation = load(opts)
    except NatsConfError as exc:
        return fail(str(exc))
    if opts.get("t"):
        if translation.warnings:
            return fail("\n".join(translation.warnings))
        try:
            check(translation.model)
        except NatskernError as exc:  # the schema or a plugin's configure refused it
            return fail(str(exc))
        print(f"{prog}: configuration file {config_path} is valid", file=sys.stderr)
        return 0
    try:
        return _run(translation, config_path, reload=lambda: load(opts).model)
    except ConfigError as exc:  # the kernel's schema or a plugin refused the configuration
        return fail(str(exc))
    except OSError as exc:  # e.g. the port is taken
        return fail(f"error starting the server: {exc}")


def load(opts: Options) -> Translation:
    """Parse the config file named by ``-c`` (if any), apply the flags, translate.

    Raises :class:`~natskern.natsconf.errors.NatsConfError` naming file, line and key.
    """
    path = opts.get("config") or ""
    parsed = parse_file(path) if path else ConfMap(None)
    merged = apply_flags(parsed, opts)
    translation = translate_report(merged, source=path or "<command line>")
    translation.ignored.extend(flag_notices(merged))
    return translation


def check(model: dict[str, Any]) -> None:
    """``-t``: everything a start checks, short of binding ports and starting services.

    Builds the broker a start would build (schema validation and every plugin's
    ``configure``, which opens nothing) and drops it without starting it.
    """
    from natskern import Broker

    Broker(model)


def _run(translation: Translation, config_path: str, reload: Callable[[], dict[str, Any]]) -> int:
    from natskern.runner import run_broker  # the broker is only imported when it runs

    def on_ready(_broker: Any) -> None:
        if config_path:
            log.info("Using configuration file: %s", config_path)
        for line in translation.warnings:
            log.warning("%s", line)
        for line in translation.ignored:
            log.warning("%s", line)

    return run_broker(translation.model, on_ready=on_ready, reload=reload)


def _find_pids() -> list[int]:
    """Process ids of other running ``natskern-server`` / ``nats-server`` commands."""
    pids = []
    names = {PROG, "nats-server"}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        # the program itself, or the script a Python interpreter runs
        if any(os.path.basename(a.decode(errors="replace")) in names for a in argv[:2]):
            pids.append(int(entry))
    return sorted(pids)


def send_signal(spec: str) -> None:
    """``--signal cmd[=pid]``: send ``cmd``'s signal to a server (pid or PID file).

    Without a pid, the one running ``natskern-server`` (or ``nats-server``) is found.
    Raises :class:`NatsConfError` when the command, the pid or the process is wrong.
    """
    command, _, target = spec.partition("=")
    if "=" in target:
        raise NatsConfError(f"invalid signal parameters: {target.split('=')[1:]}")
    if command not in SIGNALS:
        raise NatsConfError(f'unknown signal "{command}"')
    if target and os.path.isfile(target):
        with open(target, encoding="utf-8") as fh:
            target = fh.read().strip()
    if target:
        if not target.isdigit():
            raise NatsConfError(f"invalid pid: {target}")
        pid = int(target)
    else:
        pids = _find_pids()
        if not pids:
            raise NatsConfError(f"no {PROG} processes running")
        if len(pids) > 1:
            listing = "\n".join(str(p) for p in pids)
            raise NatsConfError(f"multiple {PROG} processes running:\n{listing}")
        pid = pids[0]
    try:
        os.kill(pid, SIGNALS[command])
    except OSError as exc:
        raise NatsConfError(f"cannot signal process {pid}: {exc.strerror}") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
