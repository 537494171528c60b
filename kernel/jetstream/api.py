"""The ``$JS.API`` responders for streams (nats-server's ``jetstream_api.go``).

:func:`handle` answers one request of an account's JetStream: ``INFO``, ``STREAM.CREATE``,
``UPDATE``, ``DELETE``, ``INFO``, ``NAMES``, ``LIST``, ``PURGE``, ``MSG.GET`` and
``MSG.DELETE``.  Each answer has nats-server's fields in its order (paging fields
first where its response struct embeds them, ``purged: 0`` next to an error...).
Subjects the engine does not serve get no answer, as nats-server's unknown stream
subjects do.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.api_consumer import handle as handle_consumer
from natskern.kernel.jetstream.api_consumer import refuse as refuse_consumer
from natskern.kernel.jetstream.directget import seq_from_time
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.gojson import GoJSONError, parse
from natskern.kernel.jetstream.requests import (
    MsgDeleteRequest,
    MsgGetRequest,
    PurgeRequest,
    StreamInfoRequest,
    StreamNamesRequest,
    decode_body,
)
from natskern.kernel.jetstream.snapshot import handle_snapshot
from natskern.kernel.jetstream.snapshot_restore import handle_restore
from natskern.kernel.jetstream.streamconfig import set_dynamic_metadata
from natskern.kernel.jetstream.streamrequest import (
    check_create,
    check_create_sources,
    check_update,
    check_update_request,
    finish_update,
    same_config,
    subjects_overlap,
)
from natskern.kernel.jetstream.wire import API_TYPE_PREFIX, dumps, format_time, time_ns, to_wire
from natskern.kernel.protocol.headers import header_value
from natskern.kernel.subjects.tokens import subjects_collide

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.engine import AccountJetStream
    from natskern.kernel.jetstream.stream import Stream

__all__ = ["handle", "stream_info"]

NAMES_LIMIT: Final = 1024
LIST_LIMIT: Final = 256
SUBJECTS_LIMIT: Final = 100_000
_REQUIRED_LEVEL: Final = b"Nats-Required-Api-Level"


def _resp(kind: str, *parts: dict[str, Any] | None) -> bytes:
    out: dict[str, Any] = {"type": API_TYPE_PREFIX + kind}
    for part in parts:
        if part:
            out.update(part)
    return dumps(out)


def _err(err: ApiError) -> dict[str, Any]:
    return {"error": err.to_json()}


def _empty(body: bytes) -> bool:
    """No options given: an empty body, ``null`` or an empty object."""
    return not body.strip() or body.strip() in (b"{}", b"null")


def _is_empty_request(body: bytes) -> bool:
    """nats-server's ``isEmptyRequest``: nothing, ``{}``, or a JSON object without keys."""
    if not body or body == b"{}":
        return True
    try:
        values = parse(body)
    except GoJSONError:
        return False
    return len(values) == 1 and values[0].kind == "object" and not values[0].value


def stream_info(
    js: AccountJetStream,
    stream: Stream,
    *,
    cluster: bool = True,
    domain: bool = True,
    **state_args: Any,
) -> dict[str, Any]:
    """StreamInfo fields: config (with the server's metadata), created, state, cluster, ts.

    nats-server leaves ``domain`` out of a create response and ``cluster`` out of the
    create, update and list answers.
    """
    out: dict[str, Any] = {
        "config": to_wire(set_dynamic_metadata(stream.config, js.version)),
        "created": format_time(stream.created),
        "state": state_json(stream, **state_args),
    }
    if js.domain and domain:
        out["domain"] = js.domain
    if cluster:
        out["cluster"] = {"leader": js.server_name}
    out.update(js.source_info(stream))
    out["ts"] = format_time(time.time_ns())
    return out


def state_json(
    stream: Stream, *, deleted_details: bool = False, subjects: dict[str, int] | None = None
) -> dict[str, Any]:
    """A stream's ``state`` object in nats-server's field order and omissions."""
    st = stream.store.state(deleted_details=deleted_details)
    out: dict[str, Any] = {
        "messages": st.messages,
        "bytes": st.bytes,
        "first_seq": st.first_seq,
        "first_ts": format_time(st.first_ts if st.messages else 0),
        "last_seq": st.last_seq,
        "last_ts": format_time(st.last_ts),
    }
    if st.num_subjects:
        out["num_subjects"] = st.num_subjects
    if subjects:
        out["subjects"] = subjects
    if st.num_deleted:
        out["num_deleted"] = st.num_deleted
    if deleted_details and st.deleted:
        out["deleted"] = st.deleted
    out["consumer_count"] = stream.consumer_count
    return out


async def handle(
    js: AccountJetStream, subject: bytes, hdr: bytes | None, body: bytes
) -> bytes | None:
    """The answer to one ``$JS.API`` request, or None when nats-server would not answer."""
    tokens = subject.decode(errors="replace").split(".")
    if len(tokens) < 3 or tokens[:2] != ["$JS", "API"]:
        return None
    answer = await _dispatch(js, tokens, hdr, body)
    if answer is not None and not isinstance(answer, _Uncounted):
        js.api_total += 1  # after answering: INFO reports the calls before itself
    return answer


class _Uncounted(bytes):
    """An answer nats-server does not count in the API statistics (a found MSG.GET)."""


async def _dispatch(
    js: AccountJetStream, tokens: list[str], hdr: bytes | None, body: bytes
) -> bytes | None:
    if hdr:
        level = header_value(hdr, _REQUIRED_LEVEL)
        if level is not None and not (level.isdigit() and int(level) <= API_LEVEL):
            if tokens[2] == "CONSUMER":  # (None: nats-server does not answer)
                refused = refuse_consumer(js, tokens, E.REQUIRED_API_LEVEL())
                js.api_errors += refused is not None
                return refused
            refused = _refuse(tokens, E.REQUIRED_API_LEVEL())
            js.api_errors += 1
            return refused or _resp(_kind(tokens), _err(E.REQUIRED_API_LEVEL()))
    if js.limits is None:
        return _disabled(tokens)
    if tokens[2:] == ["INFO"]:
        return _resp("account_info_response", js.account_info())
    if tokens[2] == "CONSUMER":
        return await handle_consumer(js, tokens, hdr, body)
    if tokens[2] != "STREAM" or len(tokens) < 4:
        return None
    op = tokens[3]
    if op in ("NAMES", "LIST") and len(tokens) == 4:
        return await (_names if op == "NAMES" else _list)(js, body)
    if op == "MSG" and len(tokens) == 6 and tokens[4] in ("GET", "DELETE"):
        handler = _msg_get if tokens[4] == "GET" else _msg_delete
        return await handler(js, tokens[5], body)
    if op in ("SNAPSHOT", "RESTORE") and len(tokens) == 5:
        snap = handle_snapshot if op == "SNAPSHOT" else handle_restore
        return await snap(js, tokens[4], body)
    handlers = {
        "CREATE": _create,
        "UPDATE": _update,
        "DELETE": _delete,
        "INFO": _info,
        "PURGE": _purge,
    }
    if op in handlers and len(tokens) == 5:
        return await handlers[op](js, tokens[4], body)
    return None


_KINDS: Final = {
    "CREATE": ("stream_create_response", None),
    "UPDATE": ("stream_update_response", None),
    "DELETE": ("stream_delete_response", None),
    "INFO": ("stream_info_response", {"total": 0, "offset": 0, "limit": 0}),
    "NAMES": ("stream_names_response", {"total": 0, "offset": 0, "limit": 0, "streams": None}),
    "LIST": ("stream_list_response", {"total": 0, "offset": 0, "limit": 0, "streams": []}),
    "PURGE": ("stream_purge_response", {"purged": 0}),
    "GET": ("stream_msg_get_response", None),
    "MSG.DELETE": ("stream_msg_delete_response", None),
    "SNAPSHOT": ("stream_snapshot_response", None),
    "RESTORE": ("stream_restore_response", {"deliver_subject": ""}),
}


def _refuse(tokens: list[str], error: ApiError) -> bytes | None:
    """``error`` as the answer of the stream API ``tokens`` names (None: not one of ours)."""
    err = _err(error)
    if tokens[2:] == ["INFO"]:
        return _resp("account_info_response", err)
    if tokens[2] != "STREAM" or len(tokens) < 4:
        return None
    op = tokens[3]
    if op == "MSG" and len(tokens) > 4:
        op = "GET" if tokens[4] == "GET" else "MSG.DELETE"
    entry = _KINDS.get(op)
    if entry is None:
        return None
    return _resp(entry[0], err, entry[1])


def _disabled(tokens: list[str]) -> bytes | None:
    """The ``10039`` answer of an account without JetStream."""
    return _refuse(tokens, E.NOT_ENABLED_FOR_ACCOUNT())


def _kind(tokens: list[str]) -> str:
    names = {"CREATE": "stream_create_response", "UPDATE": "stream_update_response"}
    return names.get(tokens[3] if len(tokens) > 3 else "", "system_response")


async def _create(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_create_response"
    try:
        cfg = check_create(name, body, limits_check=js.check_new_stream, **js.check_options())
        existing = js.streams.get(cfg.name)
        if existing is not None:
            if not same_config(cfg, existing.config):
                raise E.STREAM_NAME_EXIST()
            stream = existing
        else:
            js.check_stream_limits(cfg)
            check_create_sources(cfg, js.functions)
            others = [s.config.subjects for n, s in js.streams.items() if n != cfg.name]
            if subjects_overlap(cfg.subjects, others):
                raise E.STREAM_SUBJECT_OVERLAP()
            stream = await js.add_stream(cfg)
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err))
    info = stream_info(js, stream, cluster=False, domain=False)
    info["did_create"] = True
    return _resp(kind, info)


async def _update(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_update_response"
    try:
        cfg, pedantic = check_update_request(name, body, **js.check_options())
        stream = js.streams.get(name)
        if stream is None:
            raise E.STREAM_NOT_FOUND()
        new = check_update(stream.config, cfg, pedantic=pedantic, **js.check_options())
        js.check_update_limits(stream.config, new)
        others = [s.config.subjects for n, s in js.streams.items() if n != name]
        if subjects_overlap(new.subjects, others):
            raise E.STREAM_SUBJECT_OVERLAP()
        finish_update(new, js.functions)
        await js.update_stream(stream, new)
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err))
    return _resp(kind, stream_info(js, stream, cluster=False))


async def _delete(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_delete_response"
    if name not in js.streams:
        js.api_errors += 1
        return _resp(kind, _err(E.STREAM_NOT_FOUND()))
    await js.delete_stream(name)
    return _resp(kind, {"success": True})


def _paged(total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"total": total, "offset": offset, "limit": limit}


async def _info(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_info_response"
    zero = _paged(0, 0, 0)
    try:
        req = StreamInfoRequest() if _empty(body) else decode_body(StreamInfoRequest, body)
        stream = js.streams.get(name)
        if stream is None:
            raise E.STREAM_NOT_FOUND()
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err), zero)
    paging = zero
    subjects = None
    if req.subjects_filter:
        found = stream.store.subjects_state(req.subjects_filter)
        counts = sorted((s, st.msgs) for s, st in found.items())
        offset = max(req.offset, 0)
        subjects = dict(counts[offset : offset + SUBJECTS_LIMIT])
        paging = _paged(len(counts), offset, SUBJECTS_LIMIT)
    info = stream_info(js, stream, deleted_details=req.deleted_details, subjects=subjects)
    return _resp(kind, paging, info)


def _matching(js: AccountJetStream, subject: str) -> list[str]:
    names = sorted(js.streams)
    if not subject:
        return names
    want = subject.encode()
    return [
        n
        for n in names
        if any(subjects_collide(want, s.encode()) for s in js.streams[n].config.subjects)
    ]


async def _names(js: AccountJetStream, body: bytes) -> bytes:
    kind = "stream_names_response"
    try:
        req = StreamNamesRequest() if _empty(body) else decode_body(StreamNamesRequest, body)
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err), _paged(0, 0, 0), {"streams": None})
    names = _matching(js, req.subject)
    offset = max(req.offset, 0)
    page = names[offset : offset + NAMES_LIMIT] or None
    return _resp(kind, _paged(len(names), offset, NAMES_LIMIT), {"streams": page})


async def _list(js: AccountJetStream, body: bytes) -> bytes:
    kind = "stream_list_response"
    try:
        req = StreamNamesRequest() if _empty(body) else decode_body(StreamNamesRequest, body)
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err), _paged(0, 0, 0), {"streams": []})
    names = _matching(js, req.subject)
    offset = max(req.offset, 0)
    infos = [
        stream_info(js, js.streams[n], cluster=False) for n in names[offset : offset + LIST_LIMIT]
    ]
    return _resp(kind, _paged(len(names), offset, LIST_LIMIT), {"streams": infos})


async def _purge(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_purge_response"
    try:
        req = PurgeRequest()
        if body.lstrip()[:1] in (b"{", b"["):
            req = decode_body(PurgeRequest, body)
            if req.seq > 0 and req.keep > 0:
                raise E.BAD_REQUEST()
        stream = js.streams.get(name)
        if stream is None:
            raise E.STREAM_NOT_FOUND()
        if stream.config.sealed:
            raise E.STREAM_SEALED()
        if stream.config.deny_purge:
            raise E.STREAM_PURGE_FAILED(err="stream purge not permitted")
        async with stream.lock:
            await stream.drain()
            purged = await stream.store.purge(req.filter, seq=req.seq, keep=req.keep)
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err), {"purged": 0})
    return _resp(kind, {"success": True, "purged": purged})


def _b64(data: bytes | None) -> str:
    return base64.b64encode(data).decode() if data else ""


async def _msg_get(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_msg_get_response"
    try:
        if _is_empty_request(body):
            raise E.BAD_REQUEST()
        req = decode_body(MsgGetRequest, body)
        if req.batch > 0 or req.max_bytes > 0:
            raise E.BAD_REQUEST()
        seq, last, nxt, start = req.seq, req.last_by_subj, req.next_by_subj, req.start_time
        if (
            (seq and last)
            or (not seq and not last and not nxt and start is None)
            or (seq and start is not None)
            or (start is not None and last)
            or (last and nxt)
        ):
            raise E.BAD_REQUEST()
        stream = js.streams.get(name)
        if stream is None:
            raise E.STREAM_NOT_FOUND()
        store = stream.store
        if start is not None:
            seq = await seq_from_time(store, time_ns(start))
        if seq and not nxt:
            msg = await store.load_msg(seq)
        elif nxt:
            msg = await store.load_next_msg(nxt, seq)
        else:
            msg = await store.load_last_msg(last)
        if msg is None:
            raise E.NO_MESSAGE_FOUND()
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err))
    message: dict[str, Any] = {"subject": msg.subject, "seq": msg.seq}
    if msg.headers and not req.no_hdr:
        message["hdrs"] = _b64(msg.headers)
    if msg.payload:
        message["data"] = _b64(msg.payload)
    message["time"] = format_time(msg.ts)
    return _Uncounted(_resp(kind, {"message": message}))


async def _msg_delete(js: AccountJetStream, name: str, body: bytes) -> bytes:
    kind = "stream_msg_delete_response"
    try:
        if _is_empty_request(body):
            raise E.BAD_REQUEST()
        req = decode_body(MsgDeleteRequest, body)
        stream = js.streams.get(name)
        if stream is None:
            raise E.STREAM_NOT_FOUND()
        if stream.config.sealed:
            raise E.STREAM_SEALED()
        if stream.config.deny_delete:
            raise E.STREAM_MSG_DELETE_FAILED(err="message delete not permitted")
        async with stream.lock:
            await stream.drain()
            removed = await stream.store.remove_msg(req.seq, erase=not req.no_erase)
    except ApiError as err:
        js.api_errors += 1
        return _resp(kind, _err(err))
    if removed:
        return _resp(kind, {"success": True})
    # nats-server sends these through its success path: counted, but not as errors.  Its
    # file store tells sequences outside the stream apart; its memory store does not.
    st = stream.store.state()
    if stream.config.storage == "memory":
        failed = E.SEQUENCE_NOT_FOUND(seq=req.seq)
    elif req.seq > st.last_seq:
        failed = E.STREAM_MSG_DELETE_FAILED(err="stream store EOF")
    elif req.seq < st.first_seq:
        failed = E.STREAM_MSG_DELETE_FAILED(err="no message found")
    else:
        failed = E.SEQUENCE_NOT_FOUND(seq=req.seq)
    return _resp(kind, _err(failed))
