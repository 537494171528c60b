"""``left(N, len)`` and ``right(N, len)``: the first or last bytes of a token."""

from __future__ import annotations

from collections.abc import Sequence

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.subjects.transform import TokenOp, pure
from natskern.plugins.mappers._args import index_and_int

__all__ = ["LeftFunction", "RightFunction"]


class LeftFunction:
    """``left(N, len)``: the first ``len`` bytes of wildcard N (whole token if shorter)."""

    name = "left"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and the integer length."""
        index, length = index_and_int(self.name, "length", args, wildcard_count)
        wildcard = index - 1

        @pure
        def left(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            token = tokens[wildcards[wildcard]]
            return token[:length] if 0 < length < len(token) else token

        return left


class RightFunction:
    """``right(N, len)``: the last ``len`` bytes of wildcard N (whole token if shorter)."""

    name = "right"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and the integer length."""
        index, length = index_and_int(self.name, "length", args, wildcard_count)
        wildcard = index - 1

        @pure
        def right(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            token = tokens[wildcards[wildcard]]
            return token[-length:] if 0 < length < len(token) else token

        return right


@hookimpl
def register_mapping_functions(register: Register) -> None:
    """Contribute ``left`` and ``right``."""
    register("left", LeftFunction())
    register("right", RightFunction())
