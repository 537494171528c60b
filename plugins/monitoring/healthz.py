"""``/healthz``: nats-server's health probe, with its JetStream checks for a standalone server.

The options and the answers follow nats-server 2.15's ``healthz``:

* ``account`` / ``stream`` / ``consumer`` narrow the check to one JetStream asset; a
  stream without an account, or a consumer without a stream, is a 400;
* ``js-server-only`` stops after the server check, ``js-enabled-only`` (and the older
  ``js-enabled``) after "JetStream is running"; ``js-meta-only`` has nothing more to check
  on a standalone server;
* otherwise every stream the store holds must have been recovered at start-up: one that
  could not be is reported (``JetStream stream 'A > S' could not be recovered``);
* ``details`` lists every problem as a typed entry (``errors``) instead of the first one.

One difference, on purpose: nats-server finds accounts and streams by their folders in the
store directory, so it answers "not found" for a memory stream and for an account with
JetStream but no file stream yet; natskern asks the running engine, so both are found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from natskern.plugins.monitoring import format as fmt
from natskern.plugins.monitoring.http import Request, Response
from natskern.plugins.monitoring.jsz import engine_of
from natskern.plugins.monitoring.query import decode_bool
from natskern.plugins.monitoring.state import MonitorState

__all__ = ["NOT_READY", "HealthOptions", "health", "healthz"]

#: What nats-server says when it is not (or no longer) accepting client connections.
NOT_READY = "failed to be ready for connections after 1ms: server"
_UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class HealthOptions:
    """The query options of one ``/healthz`` request."""

    js_enabled_only: bool = False
    js_server_only: bool = False
    account: str = ""
    stream: str = ""
    consumer: str = ""
    details: bool = False


class _Report:
    """The answer being built: the first error, or every error when ``details``."""

    def __init__(self, details: bool) -> None:
        self.details = details
        self.code = 0
        self.status = "ok"
        self.error = ""
        self.errors: list[dict[str, str]] = []

    def fail(self, kind: str, message: str, *, status: str = _UNAVAILABLE, **asset: str) -> None:
        if self.details:
            self.errors.append(
                {"type": kind, **{k: v for k, v in asset.items() if v}, "error": message}
            )
        else:
            self.status, self.error = status, message

    def finish(self) -> tuple[int, dict[str, Any]]:
        failed = bool(self.error or self.errors)
        if self.details:
            self.status = "error" if failed else "ok"
        code = self.code or (503 if failed else 200)
        doc: dict[str, Any] = {"status": self.status}
        if self.error:
            doc["error"] = self.error
        if self.errors:
            doc["errors"] = self.errors
        return code, doc


def health(broker: Any, opts: HealthOptions) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the JSON document of a health check (nats-server's ``healthz``)."""
    report = _Report(opts.details)
    if not opts.account and opts.stream:
        report.code = 400
        report.fail("BAD_REQUEST", '"account" must not be empty when checking stream health',
                    status="error")  # fmt: skip
        return report.finish()
    if not opts.stream and opts.consumer:
        report.code = 400
        report.fail("BAD_REQUEST", '"stream" must not be empty when checking consumer health',
                    status="error")  # fmt: skip
        return report.finish()
    if broker.lame_duck:
        report.code = 503
        report.fail("CONNECTION", NOT_READY, status="error")
        return report.finish()
    if opts.js_server_only or not broker.config.get("jetstream", {}).get("enabled"):
        return report.finish()
    engine = engine_of(broker)
    if engine is None:
        report.fail("JETSTREAM", "JetStream not enabled")
        return report.finish()
    if opts.js_enabled_only:
        return report.finish()
    _check_assets(engine, opts, report)
    return report.finish()


def _check_assets(engine: Any, opts: HealthOptions, report: _Report) -> None:
    accounts = [a for a in list(engine.accounts.values()) if a.limits is not None]
    if opts.account:
        accounts = [a for a in accounts if a.account.name == opts.account]
        if not accounts:
            report.code = 404
            report.errors.clear()
            report.fail("ACCOUNT", f'JetStream account "{opts.account}" not found',
                        account=opts.account)  # fmt: skip
            return
    for ajs in sorted(accounts, key=lambda a: a.account.name):
        name = ajs.account.name
        for stream in sorted(ajs.unrecovered):
            if opts.stream and stream != opts.stream:
                continue
            report.fail("STREAM", f"JetStream stream '{name} > {stream}' could not be recovered",
                        account=name, stream=stream)  # fmt: skip
            if not report.details:
                return
    if not opts.stream:
        return
    stream = accounts[0].streams.get(opts.stream)
    if stream is None:
        if opts.stream in accounts[0].unrecovered:
            return
        report.code = 404
        report.errors.clear()
        report.fail("STREAM", f'JetStream stream "{opts.stream}" not found on account '
                    f'"{opts.account}"', account=opts.account, stream=opts.stream)  # fmt: skip
        return
    if opts.consumer and opts.consumer not in stream.consumers:
        report.code = 404
        report.errors.clear()
        report.fail("CONSUMER", f'JetStream consumer "{opts.consumer}" not found for stream '
                    f'"{opts.stream}" on account "{opts.account}"', account=opts.account,
                    stream=opts.stream, consumer=opts.consumer)  # fmt: skip


def healthz(state: MonitorState, request: Request) -> Response:
    """Handle ``/healthz`` (the options decoded in nats-server's order, for its errors)."""
    js_enabled = decode_bool(request, "js-enabled")
    js_enabled_only = decode_bool(request, "js-enabled-only")
    js_server_only = decode_bool(request, "js-server-only")
    decode_bool(request, "js-meta-only")  # a standalone server has no meta layer to check
    details = decode_bool(request, "details")
    opts = HealthOptions(
        js_enabled_only=js_enabled_only or js_enabled,
        js_server_only=js_server_only,
        account=request.arg("account"),
        stream=request.arg("stream"),
        consumer=request.arg("consumer"),
        details=details,
    )
    code, doc = health(state.broker, opts)
    body = fmt.dumps(doc, indent=False)
    if state.broker.lame_duck and code == 503:
        # nats-server writes the status before its content type: clients see text/plain.
        return Response(code, body, "text/plain; charset=utf-8")
    return Response(code, body)
