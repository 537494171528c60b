"""The parser's exact path: nats-server's client-protocol state machine, read by read.

Anything the fast path (``natskern.kernel.protocol.fastpath``) does not recognise is
decoded here, with nats-server 2.9.10's rules (``server/parser.go``), including those that
depend on where a read ends:

* an op word is matched byte by byte, case-insensitively; the first byte no op continues
  with is ``Unknown Protocol Operation`` at once;
* after ``PUB``/``HPUB``/``SUB``/``UNSUB``/``-ERR`` (and ``HMSG``) one space or tab must
  follow; blanks are skipped and the argument starts at the next byte, whatever it is
  (a CR, even a LF: ``PUB \\nfoo 2`` publishes to ``"\\nfoo"``); ``CONNECT`` and ``INFO``
  need no blank; ``PING``, ``PONG`` and ``+OK`` ignore the rest of their line;
* the argument runs to the next LF.  Within one read, once a CR has been seen the last
  byte before the LF is dropped (normally that CR).  An argument split across reads is
  kept as the first read had it (less its last byte if it held a CR) and later reads add
  everything but their CRs;
* PUB/HPUB arguments split on spaces and tabs only, SUB/UNSUB on spaces, tabs, CR and LF;
  a wrong count or size closes silently; the size is checked against ``max_payload``
  and then, if pedantic, the subject (``Invalid Publish Subject``, the connection stays);
  when the payload does not end in the read that ended the control line, nats-server
  decodes that line a second time, so the pedantic error comes twice;
* ``CONNECT`` and ``INFO`` are JSON decoded into Go structs; ``HMSG`` from a client has
  no payload: it must be followed by CRLF and then counts as a message to no subject;
* while the session awaits CONNECT (``gated``), the first byte of any other operation is
  ``Authorization Violation`` (unless the session lets it through: a no_auth_user);
* size tokens with leading zeros (``PUB a 05``) are handed over as sent, since
  nats-server repeats them in the MSG it delivers.
"""

from __future__ import annotations

import re
from typing import Any

from natskern.kernel.protocol import ops
from natskern.kernel.protocol.ops import (
    ERR_AUTH_VIOLATION,
    ERR_INVALID_PUB_SUBJECT,
    ERR_MAX_CONTROL_LINE,
    ERR_MAX_PAYLOAD,
    ERR_UNKNOWN_OP,
    parse_size,
    pub_words,
    sub_words,
)
from natskern.kernel.protocol.typedjson import (
    BOOL,
    BYTES,
    INT,
    INT32,
    PERMISSION,
    STR,
    STRLIST,
    UINT8,
    UINT64,
    TypedJSONError,
    decode_struct,
)
from natskern.kernel.subjects.tokens import is_valid_pub_subject

__all__ = ["INFO_FIELDS", "ExactPath"]

#: What ``_op`` returns for a complete operation: (offset after it, handler or None, args);
#: None when parsing stops in it (fatal error, or the read ended inside it).
Step = tuple[int, Any, tuple[Any, ...]]

# Parser states between reads.
S_WORD, S_BLANK, S_BLANKS, S_ARG, S_REST = range(5)
# How an op word continues: one blank then blanks / optional blanks / ignore the line.
_ARG_WS, _ARG_OPT, _REST = range(3)
_WORDS = (
    (b"PUB", _ARG_WS, ops.PUB),
    (b"PING", _REST, ops.PING),
    (b"PONG", _REST, ops.PONG),
    (b"HPUB", _ARG_WS, ops.HPUB),
    (b"HMSG", _ARG_WS, ops.HMSG),
    (b"SUB", _ARG_WS, ops.SUB),
    (b"UNSUB", _ARG_WS, ops.UNSUB),
    (b"CONNECT", _ARG_OPT, ops.CONNECT),
    (b"INFO", _ARG_OPT, ops.INFO),
    (b"+OK", _REST, ops.OK),
    (b"-ERR", _ARG_WS, ops.ERR),
)


def _build_trie() -> tuple[list[dict[int, int]], dict[int, tuple[int, int]]]:
    """Op words as a byte trie: node 0 is the start; both cases lead to the same node."""
    trie: list[dict[int, int]] = [{}]
    ends: dict[int, tuple[int, int]] = {}
    for word, kind, code in _WORDS:
        node = 0
        for byte in word:
            nxt = trie[node].get(byte)
            if nxt is None:
                nxt = len(trie)
                trie.append({})
                trie[node][byte] = nxt
                trie[node][bytes([byte]).lower()[0]] = nxt
            node = nxt
        ends[node] = (code, kind)
    return trie, ends


_TRIE, _ENDS = _build_trie()
_BLANKS = re.compile(rb"[ \t]*")

#: nats-server's ``Info`` struct: a client's INFO must decode into it.
INFO_FIELDS: dict[str, int] = {
    **dict.fromkeys(("server_id", "server_name", "version", "git_commit", "go", "host", "ip"), STR),
    **dict.fromkeys(("client_ip", "nonce", "cluster", "domain", "gateway"), STR),
    **dict.fromkeys(("gateway_url", "remote_account"), STR),
    "proto": INT,
    "port": INT,
    "max_payload": INT32,
    "client_id": UINT64,
    "gateway_cmd": UINT8,
    "gateway_cmd_payload": BYTES,
    **dict.fromkeys(("connect_urls", "ws_connect_urls", "gateway_urls", "leafnode_urls"), STRLIST),
    "import": PERMISSION,
    "export": PERMISSION,
    **dict.fromkeys(
        ("headers", "auth_required", "tls_required", "tls_verify", "tls_available"), BOOL
    ),
    **dict.fromkeys(("jetstream", "cluster_dynamic", "ldm", "lnoc", "info_on_connect"), BOOL),
    **dict.fromkeys(("connect_info", "gateway_nrp", "gateway_iom"), BOOL),
}


class ExactPath:
    """The state machine (``_op``) and payload collection: methods ``Parser`` adopts."""

    # (attributes and handler methods of Parser; no __slots__: never instantiated, the
    # methods are adopted by Parser, whose __slots__ hold these)
    closed: bool
    headers: bool
    pedantic: bool
    gated: bool
    _mcl: int
    _maxp: int
    _sizes: dict[bytes, int]
    _st: int
    _node: int
    _opc: int
    _arg: bytearray | None
    _need: int
    _chunks: list[bytes | memoryview]
    _pend: tuple[bytes, bytes, int, tuple[bytes, bytes] | None] | None
    _buf: bytes
    _pub: Any
    _hpub: Any
    _sub: Any
    _unsub: Any
    _connect: Any
    _tokens: Any
    _ping: Any
    _pong: Any
    _warn: Any
    _gate: Any
    _fail: Any  # Parser's

    def _op(self, buf: bytes, pos: int) -> Step | None:
        """Run the state machine on ``buf`` from ``pos`` to the end of one operation.

        Continues from the state an earlier read ended in.  Returns the operation's step;
        None when parsing stops in it: a fatal error, a payload now being collected, or
        the end of ``buf`` (the state is kept for the next read).
        """
        n = len(buf)
        st = self._st
        if st == S_WORD:
            node = self._node
            trie = _TRIE
            if not node and self.gated and pos < n and buf[pos] not in b"Cc":
                # Awaiting CONNECT: any other operation is refused at its first byte,
                # unless the session lets it through (nats-server's no_auth_user).
                if not self._gate():
                    return self._stop(ERR_AUTH_VIOLATION)
                if self.closed:
                    return None
            while True:
                if pos >= n:
                    self._node = node
                    return None
                nxt = trie[node].get(buf[pos])
                if nxt is None:
                    return self._stop(ERR_UNKNOWN_OP)
                pos += 1
                end = _ENDS.get(nxt)
                if end is not None:
                    break
                node = nxt
            self._node = 0
            code, kind = end
            self._opc = code
            st = S_BLANK if kind == _ARG_WS else S_BLANKS if kind == _ARG_OPT else S_REST
        else:
            code = self._opc
        if st == S_REST:
            e = buf.find(b"\n", pos)
            if e < 0:
                self._st = S_REST
                return None
            self._st = S_WORD
            if code == ops.PING:
                return e + 1, self._ping, ()
            if code == ops.PONG:
                return e + 1, self._pong, ()
            return e + 1, None, ()
        if st == S_BLANK:
            if pos >= n:
                self._st = S_BLANK
                return None
            if buf[pos] != 32 and buf[pos] != 9:
                return self._stop(ERR_UNKNOWN_OP)
            pos += 1
            st = S_BLANKS
        if st == S_BLANKS:
            pos = _BLANKS.match(buf, pos).end()  # type: ignore[union-attr]
            if pos >= n:
                self._st = S_BLANKS
                return None
            # The argument starts here, whatever this byte is; it is not looked at.
            start = pos
            pos += 1
            e = buf.find(b"\n", pos)
            if e < 0:
                cr = buf.find(b"\r", pos) >= 0
                self._arg = bytearray(buf[start : n - 1 if cr else n])
                self._st = S_ARG
                if len(self._arg) > self._mcl:
                    return self._stop(ERR_MAX_CONTROL_LINE)
                return None
            arg = buf[start : e - 1 if buf.find(b"\r", pos, e) >= 0 else e]
        else:  # S_ARG: continuing an argument split across reads
            e = buf.find(b"\n", pos)
            seg = buf[pos : e if e >= 0 else n]
            held = self._arg
            assert held is not None
            held += seg.replace(b"\r", b"") if 13 in seg else seg
            if e < 0:
                if len(held) > self._mcl:
                    return self._stop(ERR_MAX_CONTROL_LINE)
                return None
            arg = bytes(held)
            self._arg = None
        self._st = S_WORD
        if len(arg) > self._mcl:
            return self._stop(ERR_MAX_CONTROL_LINE)
        return self._decode(code, arg, buf, e + 1, n)

    def _decode(self, code: int, arg: bytes, buf: bytes, start: int, n: int) -> Step | None:
        """Act on a complete control line; ``start`` is the offset after its LF."""
        if code == ops.PUB or code == ops.HPUB:
            return self._msg_line(code, arg, buf, start, n)
        if code == ops.SUB:
            words = sub_words(arg)
            if len(words) == 2:
                return start, self._sub, (words[0], b"", words[1])
            if len(words) == 3:
                return start, self._sub, (words[0], words[1], words[2])
            return self._stop(None)
        if code == ops.UNSUB:
            words = sub_words(arg)
            if len(words) == 1:
                return start, self._unsub, (words[0], 0)
            if len(words) == 2:
                return start, self._unsub, (words[0], max(parse_size(words[1]), 0))
            return self._stop(None)
        if code == ops.CONNECT:
            return start, self._connect, (arg,)
        if code == ops.INFO:
            # A client's INFO is decoded into nats-server's Info struct and ignored.
            try:
                decode_struct(arg, INFO_FIELDS)
            except TypedJSONError:
                return self._stop(None)
            return start, None, ()
        if code == ops.ERR:
            return self._stop(None)
        # HMSG: nothing is decoded for a client; a zero-byte message must follow.
        return self._payload(b"", b"", -2, 0, buf, start, n, False)

    def _msg_line(self, code: int, arg: bytes, buf: bytes, start: int, n: int) -> Step | None:
        """Validate a PUB/HPUB argument, then dispatch or start collecting its payload."""
        if code == ops.HPUB and not self.headers:
            return self._stop(None)
        words = pub_words(arg)
        hdr = -1
        reply = b""
        if code == ops.PUB:
            if len(words) == 3:
                reply = words[1]
            elif len(words) != 2:
                return self._stop(None)
        else:
            if len(words) == 4:
                reply = words[1]
            elif len(words) != 3:
                return self._stop(None)
            hdr = parse_size(words[-2])
            if hdr < 0:
                return self._stop(None)
        size = parse_size(words[-1])
        if size < 0 or hdr > size:
            return self._stop(None)
        if size > self._maxp:
            return self._stop(ERR_MAX_PAYLOAD)
        # nats-server repeats the size tokens as sent in MSG/HMSG: tokens with leading zeros
        # go to the handler as they are (and never into the fast path's size cache).
        szb = words[-1]
        hdb = words[-2] if hdr >= 0 else b""
        tokens = None
        if (szb[0] == 48 and len(szb) > 1) or (hdb[:1] == b"0" and len(hdb) > 1):
            tokens = (hdb, szb)
        elif len(self._sizes) < 65536:
            self._sizes[szb] = size
            if hdr >= 0:
                self._sizes[hdb] = hdr
        subject = words[0]
        bad = self.pedantic and not is_valid_pub_subject(subject)
        if bad:
            self._warn(ERR_INVALID_PUB_SUBJECT)
            if self.closed:
                return None
        return self._payload(subject, reply, hdr, size, buf, start, n, bad, tokens)

    def _payload(
        self,
        subject: bytes,
        reply: bytes,
        hdr: int,
        size: int,
        buf: bytes,
        start: int,
        n: int,
        bad: bool,
        tokens: tuple[bytes, bytes] | None = None,
    ) -> Step | None:
        """The payload after a control line: dispatch it, or collect it across reads.

        ``hdr`` is -1 for PUB, -2 for a client's HMSG; ``bad`` says the pedantic subject
        error was sent (nats-server sends it again when the payload continues in a later
        read, as it decodes the control line once more); ``tokens`` are size tokens with
        leading zeros (see ``_message``).
        """
        end = start + size
        if end + 2 <= n:
            if buf[end] != 13 or buf[end + 1] != 10:
                return self._stop(ERR_UNKNOWN_OP)
            return end + 2, *self._message(subject, reply, hdr, buf[start:end], tokens)
        if end + 1 == n and buf[end] != 13:
            return self._stop(ERR_UNKNOWN_OP)
        if bad:
            self._warn(ERR_INVALID_PUB_SUBJECT)
            if self.closed:
                return None
        self._pend = (subject, reply, hdr, tokens)
        # Views, not copies: the payload is copied once, when its last part has come.
        self._chunks = [memoryview(buf)[start:]] if start < n else []
        self._need = end + 2 - n
        return None

    def _message(
        self,
        subject: bytes,
        reply: bytes,
        hdr: int,
        data: bytes,
        tokens: tuple[bytes, bytes] | None = None,
    ) -> tuple[Any, tuple[Any, ...]]:
        """The handler call for a complete message.

        A PUB/HPUB whose size tokens were sent with leading zeros goes to the handler's
        ``proto_pub_tokens`` when it has one (nats-server repeats the tokens as sent).
        """
        if tokens is not None and self._tokens is not None:
            return self._tokens, (subject, reply, hdr, data, tokens)
        if hdr == -1:
            return self._pub, (subject, reply, data)
        if hdr == -2:
            return self._pub, (b"", b"", b"")
        return self._hpub, (subject, reply, hdr, data)

    def _collect(self, data: bytes) -> bytes:
        """Add ``data`` to a payload being collected; return the bytes after it, if any."""
        need = self._need
        chunks = self._chunks
        size = len(data)
        if size < need:
            chunks.append(data)
            self._need = need - size
            if self._need == 1 and data[-1] != 13:
                self._fail(ERR_UNKNOWN_OP)
            return b""
        if need >= 2:
            ok = data[need - 2] == 13 and data[need - 1] == 10
            if need > 2:
                chunks.append(memoryview(data)[: need - 2])
        else:  # the CR is already the last collected byte
            ok = data[0] == 10
            chunks[-1] = chunks[-1][:-1]
        if not ok:
            self._fail(ERR_UNKNOWN_OP)
            return b""
        payload = b"".join(chunks)  # (one part: that part itself if it is bytes)
        subject, reply, hdr, tokens = self._pend  # type: ignore[misc]
        self._pend = None
        self._chunks = []
        self._need = 0
        rest = data[need:] if need < size else b""
        self._buf = rest  # kept for the next feed if the handler raises
        call, args = self._message(subject, reply, hdr, payload, tokens)
        call(*args)
        self._buf = b""
        return b"" if self.closed else rest

    def _stop(self, text: str | None) -> Step | None:
        """A fatal error in ``_op``: report it; always None, ``_op``'s "parsing stopped"."""
        self._fail(text)
        return None
