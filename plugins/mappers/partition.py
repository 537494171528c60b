"""``{{partition(P, N...)}}``: a stable partition number ``0..P-1`` like nats-server's.

The key is the concatenation (no separator) of the named wildcard tokens, or the whole
subject when no token is named; the number is the 32-bit FNV-1a hash of the key modulo P.
"""

from __future__ import annotations

from collections.abc import Sequence

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.subjects.transform import (
    MappingError,
    TokenOp,
    parse_int,
    pure,
    wildcard_index,
)

__all__ = ["PartitionFunction", "fnv1a_32"]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
#: Keys remembered per compiled partition op before the memo is cleared.
_MEMO_SIZE = 8192


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data`` (Go's ``hash/fnv.New32a``)."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


def _partition_op(partitions: int, indexes: tuple[int, ...]) -> TokenOp:
    labels = [str(i).encode() for i in range(partitions)] if partitions <= 4096 else None
    memo: dict[bytes, bytes] = {}

    def number(key: bytes) -> bytes:
        n = fnv1a_32(key) % partitions
        label = labels[n] if labels is not None else str(n).encode()
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = label
        return label

    get = memo.get
    if not indexes:

        @pure
        def whole_subject(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            key = b".".join(tokens)
            return get(key) or number(key)

        return whole_subject
    if len(indexes) == 1:
        wildcard = indexes[0] - 1

        @pure
        def one_token(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            key = tokens[wildcards[wildcard]]
            return get(key) or number(key)

        return one_token
    if len(indexes) == 2:
        first, second = indexes[0] - 1, indexes[1] - 1

        @pure
        def two_tokens(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            key = tokens[wildcards[first]] + tokens[wildcards[second]]
            return get(key) or number(key)

        return two_tokens
    slots = tuple(i - 1 for i in indexes)

    @pure
    def many_tokens(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
        key = b"".join([tokens[wildcards[i]] for i in slots])
        return get(key) or number(key)

    return many_tokens


class PartitionFunction:
    """``partition(P, N1, N2, ...)``: FNV-1a of the named wildcard tokens modulo P."""

    name = "partition"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check P >= 1 and every N is a wildcard index of the source."""
        if not args:
            raise MappingError("partition needs the number of partitions")
        partitions = parse_int(args[0], "number of partitions", minimum=1)
        indexes = tuple(wildcard_index(arg, wildcard_count) for arg in args[1:])
        return _partition_op(partitions, indexes)


@hookimpl
def register_mapping_functions(register: Register) -> None:
    """Contribute ``partition``."""
    register("partition", PartitionFunction())
