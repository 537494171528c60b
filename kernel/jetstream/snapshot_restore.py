"""``$JS.API.STREAM.RESTORE.<stream>``: receive a snapshot archive and rebuild the stream.

As nats-server's ``jsStreamRestoreRequest`` and ``processStreamRestore``: the request
``{config, state}`` is checked (bad request, invalid JSON, name mismatch, path
separators, the stream config, the account's limits, a stream of that name already
there: ``10130``), a ``RESTORE_CREATE`` advisory goes out and the answer is a
``stream_restore_response`` naming ``$JS.SNAPSHOT.RESTORE.<stream>.<id>``.  The client
sends the archive there in requests, each answered with an empty message; an empty
payload ends it, and its reply gets the ``stream_create_response`` (the new stream's
info, or the error: ``10062 restore failed: ...`` for a bad archive), after a
``RESTORE_COMPLETE`` advisory.  A transfer idle for 5 s is dropped.

Chunks go to a temporary file under the account's JetStream directory (never the
broker's memory); :func:`~natskern.kernel.jetstream.snapshot_apply.restore_archive`
then checks it whole and builds the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import time
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.gojson import GoJSONError, parse
from natskern.kernel.jetstream.snapshot import is_empty_request, new_id
from natskern.kernel.jetstream.snapshot_apply import restore_archive
from natskern.kernel.jetstream.snapshot_format import ArchiveError
from natskern.kernel.jetstream.streamrequest import check_create
from natskern.kernel.jetstream.wire import API_TYPE_PREFIX, dumps, format_time

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.subscription import Subscription
    from natskern.kernel.jetstream.engine import AccountJetStream
    from natskern.kernel.jetstream.streamconfig import StreamConfig

__all__ = ["RestoreReceiver", "handle_restore"]

log = logging.getLogger("natskern.jetstream.snapshot")

#: A restore without a chunk for this long is dropped (nats-server: 5 s).
STALL_TIMEOUT: Final = 5.0
_KIND: Final = "stream_restore_response"
_RUNNING: set[asyncio.Task[None]] = set()


def _resp(body: dict[str, Any]) -> bytes:
    return dumps({"type": API_TYPE_PREFIX + _KIND, **body})


def _request_config(name: str, body: bytes) -> dict[str, Any]:
    """The request's ``config`` object (its name filled in from the subject when empty)."""
    try:
        parse(body)
    except GoJSONError as err:
        raise E.INVALID_JSON(err=str(err)) from None
    doc = json.loads(body)
    if not isinstance(doc, dict):
        kind = "array" if isinstance(doc, list) else type(doc).__name__
        raise E.INVALID_JSON(
            err=f"json: cannot unmarshal {kind} into Go value of type "
            "server.JSApiStreamRestoreRequest"
        )
    config = doc.get("config")
    config = dict(config) if isinstance(config, dict) else {}
    if not config.get("name"):
        config["name"] = name
    if config["name"] != name:
        raise E.STREAM_MISMATCH()
    if "/" in name or "\\" in name:
        raise E.STREAM_NAME_CONTAINS_PATH_SEPARATORS()
    return config


async def handle_restore(js: AccountJetStream, name: str, body: bytes) -> bytes:
    """Answer a restore request: the subject to send the archive to, or the error."""
    try:
        if is_empty_request(body):
            raise E.BAD_REQUEST()
        config = _request_config(name, body)
        sealed = config.get("sealed") is True  # a sealed stream restores sealed (nats-server)
        cfg = check_create(name, dumps({**config, "sealed": False}), **js.check_options())
        if sealed:
            cfg = dataclasses.replace(cfg, sealed=True)
        js.check_stream_limits(cfg)
        if name in js.streams:
            raise E.STREAM_NAME_EXIST_RESTORE_FAILED()
        receiver = RestoreReceiver(js, cfg)
    except ApiError as err:
        js.api_errors += 1
        return _resp({"error": err.to_json(), "deliver_subject": ""})
    except OSError as err:
        js.api_errors += 1
        failed = E.RESTORE_SUBSCRIBE_FAILED(err=str(err), subject=name)
        return _resp({"error": failed.to_json(), "deliver_subject": ""})
    receiver.advise("RESTORE_CREATE", "restore_create", {"stream": name})
    receiver.start()
    return _resp({"deliver_subject": receiver.subject})


class RestoreReceiver:
    """One restore in progress: takes the chunks into a temporary file, then applies it."""

    def __init__(self, js: AccountJetStream, cfg: StreamConfig) -> None:
        self.js = js
        self.cfg = cfg
        self.name = cfg.name
        self.subject = f"$JS.SNAPSHOT.RESTORE.{cfg.name}.{new_id()}"
        folder = os.path.join(os.path.dirname(js.directory), "snapshots")
        os.makedirs(folder, exist_ok=True)
        fd, self.path = tempfile.mkstemp(prefix="restore-", suffix=".tmp", dir=folder)
        self._file = os.fdopen(fd, "wb")
        self.start_ns = time.time_ns()
        self.total = 0
        self._sub: Subscription | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = False

    def start(self) -> None:
        """Subscribe to the chunk subject and start the stall timer."""
        self._sub = self.js.client.subscribe(self.subject.encode(), self._on_chunk)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(STALL_TIMEOUT, self._stalled)

    def _stalled(self) -> None:
        log.warning("restore for stream %r is stalled", self.name)
        self._close()

    def _close(self) -> None:
        """Stop taking chunks and forget the temporary file."""
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sub is not None:
            self.js.client.remove_subscription(self._sub)
            self._sub = None
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def _on_chunk(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
        if self._done:
            return True
        if not reply:
            log.warning("restore for stream %r requires a reply subject per chunk", self.name)
            self._close()
            return True
        if not payload:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            task = asyncio.create_task(self._finish(reply))
            _RUNNING.add(task)
            task.add_done_callback(_RUNNING.discard)
            return True
        try:
            self._file.write(payload)
        except OSError as err:
            failed = E.STREAM_RESTORE(err=str(err))
            self.js.client.publish(reply, _create_response({"error": failed.to_json()}))
            self._close()
            return True
        self.total += len(payload)
        self._arm()
        self.js.client.publish(reply, b"")
        return True

    def advise(self, event: str, kind: str, fields: dict[str, Any]) -> None:
        """Publish a restore advisory on ``$JS.EVENT.ADVISORY.STREAM.<event>.<stream>``."""
        js = self.js
        body: dict[str, Any] = {
            "type": "io.nats.jetstream.advisory.v1." + kind,
            "id": new_id(),
            "timestamp": format_time(time.time_ns()),
        }
        body.update(fields)
        body["client"] = {"acc": js.account.name, "server": js.server_name}
        if js.domain:
            body["domain"] = js.domain
        subject = f"$JS.EVENT.ADVISORY.STREAM.{event}.{self.name}".encode()
        js.client.publish(subject, dumps(body))

    async def _finish(self, reply: bytes) -> None:
        js = self.js
        try:
            self._file.close()
            try:
                stream = await restore_archive(js, self.cfg, self.path)
            except ApiError as err:
                answer = _create_response({"error": err.to_json()})
            except (ArchiveError, OSError, ValueError) as err:
                answer = _create_response({"error": E.STREAM_RESTORE(err=str(err)).to_json()})
            except Exception as err:
                log.exception("restore of stream %r failed", self.name)
                answer = _create_response({"error": E.STREAM_RESTORE(err=str(err)).to_json()})
            else:
                from natskern.kernel.jetstream.api import stream_info

                answer = _create_response(stream_info(js, stream, cluster=False, domain=False))
            end = time.time_ns()
            self.advise(
                "RESTORE_COMPLETE",
                "restore_complete",
                {
                    "stream": self.name,
                    "start": format_time(self.start_ns),
                    "end": format_time(end),
                    "bytes": self.total,
                },
            )
            js.client.publish(reply, answer)
        finally:
            self._close()


def _create_response(body: dict[str, Any]) -> bytes:
    return dumps({"type": API_TYPE_PREFIX + "stream_create_response", **body})
