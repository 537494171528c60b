"""``split(N, sep)``, ``splitFromLeft(N, pos)``, ``splitFromRight(N, pos)``: one token to many."""

from __future__ import annotations

from collections.abc import Sequence

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.subjects.transform import MappingError, TokenOp, pure, wildcard_index
from natskern.plugins.mappers._args import index_and_int

__all__ = ["SplitFromLeftFunction", "SplitFromRightFunction", "SplitFunction", "split_token"]


def split_token(token: bytes, sep: bytes) -> bytes | None:
    """Split ``token`` on ``sep`` into tokens, dropping empty parts, as nats-server does.

    Returns None when nats-server's result is not a valid subject (every part empty, or
    a leading separator it emits when the token starts with two separators): it never
    delivers such a message.
    """
    parts = token.split(sep)
    if b"" not in parts:
        return b".".join(parts)
    return _join_parts(parts)


def _join_parts(parts: list[bytes]) -> bytes | None:
    kept = [part for part in parts if part]
    if not kept or (not parts[0] and not parts[1]):
        return None
    return b".".join(kept)


class SplitFunction:
    """``split(N, sep)``: split wildcard N on every ``sep`` (taken literally, quotes too)."""

    name = "split"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and that ``sep`` is non-empty without spaces or dots."""
        if len(args) != 2:
            raise MappingError(f"split takes two arguments (index, separator), got {len(args)}")
        wildcard = wildcard_index(args[0], wildcard_count) - 1
        if not args[1] or " " in args[1] or "." in args[1]:
            raise MappingError(f"split separator {args[1]!r} must be non-empty, without ' ' or '.'")
        sep = args[1].encode()

        @pure
        def split(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes | None:
            parts = tokens[wildcards[wildcard]].split(sep)
            if b"" not in parts:
                return b".".join(parts)
            return _join_parts(parts)

        return split


class SplitFromLeftFunction:
    """``splitFromLeft(N, pos)``: two tokens, the first ``pos`` bytes long."""

    name = "splitFromLeft"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and the integer position."""
        index, pos = index_and_int(self.name, "position", args, wildcard_count)
        wildcard = index - 1

        @pure
        def split_from_left(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            token = tokens[wildcards[wildcard]]
            if 0 < pos < len(token):
                return token[:pos] + b"." + token[pos:]
            return token

        return split_from_left


class SplitFromRightFunction:
    """``splitFromRight(N, pos)``: two tokens, the second ``pos`` bytes long."""

    name = "splitFromRight"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and the integer position."""
        index, pos = index_and_int(self.name, "position", args, wildcard_count)
        wildcard = index - 1

        @pure
        def split_from_right(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            token = tokens[wildcards[wildcard]]
            if 0 < pos < len(token):
                return token[:-pos] + b"." + token[-pos:]
            return token

        return split_from_right


@hookimpl
def register_mapping_functions(register: Register) -> None:
    """Contribute ``split``, ``splitFromLeft`` and ``splitFromRight``."""
    register("split", SplitFunction())
    register("splitFromLeft", SplitFromLeftFunction())
    register("splitFromRight", SplitFromRightFunction())
