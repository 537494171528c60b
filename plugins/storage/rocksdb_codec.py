"""Key and value layout of the RocksDB stream store (pure functions, no I/O).

Column families of one stream's database:

``msgs``
    key: the sequence as 8 bytes big-endian (byte order is sequence order);
    value: ``checksum(8) ts(8) ttl(8) subject_len(2) headers_len(4) subject headers payload``
    with ``headers_len`` -1 for "no headers".  The checksum covers everything after
    it (lengths included) and the key, so a value moved under another key fails too:
    in a database of format 2 (:mod:`.rocksdb_format`) it is XXH3-64 of the value
    seeded with the sequence (``encode_fields_xxh``, ``verify_msg_xxh``), in one of
    format 1 BLAKE2b-64 over the key and the value (``encode_fields``, ``verify_msg``).
``meta``
    ``S\\x00`` / ``S\\x01``: the log state (last_seq, last_ts, gen, and the
    checkpoint floor: the generation below which a checkpoint file is stale),
    two checksummed copies written in every commit; ``R<gen>``: the removal
    journal entry of commit ``gen`` (:mod:`.rocksdb_ckpt`);
    ``u<name>\\x00<copy>``: a :meth:`put_meta` value (two copies up to
    :data:`TWO_COPY_LIMIT`, one beyond; the store's ``index`` checkpoint is not
    kept here but in a file, :mod:`.rocksdb_ckpt`); ``a<name>``: marker of an
    existing side log.  Values are ``checksum(8) data``, BLAKE2b-64 over the key
    and the data.  Stored uncompressed.
``aux``
    key: ``len(name)(2) name counter(8)``; value: ``checksum(8) entry``,
    BLAKE2b-64 over the counter and the entry.
"""

from __future__ import annotations

import struct
from hashlib import blake2b

from natskern.kernel.store.api import StoredMsg
from xxhash import xxh3_64_digest

__all__ = [
    "BLANK",
    "DATA_AT",
    "HEADER",
    "TWO_COPY_LIMIT",
    "aux_key",
    "aux_prefix",
    "decode_meta",
    "decode_msg",
    "decode_state",
    "encode_fields",
    "encode_fields_xxh",
    "encode_meta",
    "encode_state",
    "seq_key",
    "subject_bytes",
    "user_meta_keys",
    "verify_msg",
    "verify_msg_xxh",
]

_SEQ = struct.Struct(">Q")
#: ts, ttl, subject length, headers length (-1: none), after the 8-byte checksum.
HEADER = struct.Struct(">qqHi")
_pack = HEADER.pack
_BODY_AT = 8
DATA_AT = _DATA_AT = 8 + HEADER.size
_STATE = struct.Struct(">Qqqq")
#: put_meta values up to this size are kept twice; larger ones once.
TWO_COPY_LIMIT = 1 << 20
STATE_KEYS = (b"S\x00", b"S\x01")


#: ``seq_key(seq)``: the 8-byte big-endian key of sequence ``seq`` (the packer itself:
#: no Python frame per key).
seq_key = _SEQ.pack


def subject_bytes(cache: dict[str, bytes], subject: str) -> bytes:
    """The bytes of ``subject``, kept in ``cache`` (bounded: a stream of many subjects)."""
    if len(cache) >= 10_000:
        cache.clear()
    raw = cache[subject] = subject.encode()
    return raw


#: A blank BLAKE2b-64 state: ``copy()`` is cheaper than building one with arguments.
BLANK = blake2b(digest_size=8)


def _digest(data: bytes | memoryview, salt: bytes) -> bytes:
    h = BLANK.copy()
    h.update(salt)
    h.update(data)
    return h.digest()


def encode_fields(
    seq: int,
    key: bytes,
    subject: bytes,
    ts: int,
    ttl: int,
    headers: bytes | None,
    payload: bytes,
) -> bytes:
    """The stored value of a message given field by field (``subject`` encoded), in a
    database of format 1: BLAKE2b-64 over the key and the value (``seq`` unused: both
    encoders take the same arguments)."""
    hlen = -1 if headers is None else len(headers)
    body = b"".join((_pack(ts, ttl, len(subject), hlen), subject, headers or b"", payload))
    h = BLANK.copy()  # (_digest inline: this is every append's)
    h.update(key)
    h.update(body)
    return h.digest() + body


def encode_fields_xxh(
    seq: int,
    key: bytes,
    subject: bytes,
    ts: int,
    ttl: int,
    headers: bytes | None,
    payload: bytes,
) -> bytes:
    """:func:`encode_fields` for a database of format 2: the checksum is XXH3-64 of the
    value after it, seeded with the sequence (``key`` unused)."""
    hlen = -1 if headers is None else len(headers)
    body = b"".join((_pack(ts, ttl, len(subject), hlen), subject, headers or b"", payload))
    return xxh3_64_digest(body, seq) + body


def verify_msg_xxh(key: bytes, value: bytes) -> bool:
    """:func:`verify_msg` for a database of format 2."""
    if len(value) < _DATA_AT:
        return False
    seed = int.from_bytes(key, "big")
    if xxh3_64_digest(memoryview(value)[_BODY_AT:], seed) != value[:_BODY_AT]:
        return False
    _ts, _ttl, slen, hlen = HEADER.unpack_from(value, _BODY_AT)
    return _DATA_AT + slen + max(hlen, 0) <= len(value) and hlen >= -1


def verify_msg(key: bytes, value: bytes) -> bool:
    """Whether ``value`` is intact (checksum matches, lengths fit the value)."""
    if len(value) < _DATA_AT:
        return False
    if _digest(value[_BODY_AT:], key) != value[:_BODY_AT]:
        return False
    _ts, _ttl, slen, hlen = HEADER.unpack_from(value, _BODY_AT)
    return _DATA_AT + slen + max(hlen, 0) <= len(value) and hlen >= -1


def decode_msg(seq: int, value: bytes) -> tuple[StoredMsg, int]:
    """The message and its ttl from a verified value."""
    ts, ttl, slen, hlen = HEADER.unpack_from(value, _BODY_AT)
    at = _DATA_AT + slen
    subject = value[_DATA_AT:at].decode()
    if hlen < 0:
        headers = None
    else:
        headers = value[at : at + hlen]
        at += hlen
    return StoredMsg(subject, seq, ts, headers, value[at:]), ttl


def encode_meta(value: bytes, salt: bytes) -> bytes:
    """A checksummed metadata value (``salt``: its key, hashed before the value)."""
    return _digest(value, salt) + value


def decode_meta(stored: bytes | None, salt: bytes) -> bytes | None:
    """The value of a checksummed metadata copy, or None when missing or failing."""
    if stored is None or len(stored) < 8:
        return None
    body = memoryview(stored)[8:]
    if _digest(body, salt) != stored[:8]:
        return None
    return bytes(body)


def encode_state(last_seq: int, last_ts: int, gen: int, floor: int) -> bytes:
    """The packed log state (before the metadata checksum)."""
    return _STATE.pack(last_seq, last_ts, gen, floor)


def decode_state(data: bytes) -> tuple[int, int, int, int] | None:
    """``(last_seq, last_ts, gen, floor)`` or None when the size is wrong."""
    if len(data) != _STATE.size:
        return None
    return _STATE.unpack(data)


def user_meta_keys(name: str) -> tuple[bytes, bytes]:
    """The keys of the two copies of metadata value ``name``."""
    base = b"u" + name.encode() + b"\x00"
    return base + b"\x00", base + b"\x01"


def aux_prefix(name: str) -> bytes:
    """The key prefix of side log ``name`` (its length first: no name prefixes another)."""
    raw = name.encode()
    return struct.pack(">H", len(raw)) + raw


def aux_key(prefix: bytes, counter: int) -> bytes:
    """The key of entry ``counter`` of the side log with ``prefix``."""
    return prefix + _SEQ.pack(counter)
