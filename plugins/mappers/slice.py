"""``sliceFromLeft(N, size)`` and ``sliceFromRight(N, size)``: chop a token into chunks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.subjects.transform import TokenOp, pure
from natskern.plugins.mappers._args import index_and_int

__all__ = ["SliceFromLeftFunction", "SliceFromRightFunction", "chunker"]


def chunker(size: int, from_right: bool) -> Callable[[bytes], bytes]:
    """A function cutting a token into ``size``-byte chunks joined with ``.``.

    The remainder chunk is last (from the left) or first (from the right); a token not
    longer than ``size`` (or ``size <= 0``) is returned unchanged.  The slices for each
    token length are built once and applied with one ``itemgetter`` call.
    """
    getters: dict[int, Callable[[bytes], tuple[bytes, ...]]] = {}

    def build(n: int) -> Callable[[bytes], tuple[bytes, ...]]:
        first = n % size if from_right else 0
        starts = list(range(first, n, size))
        if first:
            starts.insert(0, 0)
        ends = [*starts[1:], n]
        getter = itemgetter(*[slice(a, b) for a, b in zip(starts, ends, strict=True)])
        getters[n] = getter
        return getter

    def chop(token: bytes) -> bytes:
        n = len(token)
        if not 0 < size < n:
            return token
        getter = getters.get(n) or build(n)
        return b".".join(getter(token))

    return chop


class SliceFromLeftFunction:
    """``sliceFromLeft(N, size)``: chunks of ``size`` bytes from the left, remainder last."""

    name = "sliceFromLeft"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and the integer size."""
        index, size = index_and_int(self.name, "size", args, wildcard_count)
        wildcard = index - 1
        chop = chunker(size, from_right=False)

        @pure
        def slice_from_left(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            return chop(tokens[wildcards[wildcard]])

        return slice_from_left


class SliceFromRightFunction:
    """``sliceFromRight(N, size)``: chunks of ``size`` bytes from the right, remainder first."""

    name = "sliceFromRight"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check the wildcard index and the integer size."""
        index, size = index_and_int(self.name, "size", args, wildcard_count)
        wildcard = index - 1
        chop = chunker(size, from_right=True)

        @pure
        def slice_from_right(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            return chop(tokens[wildcards[wildcard]])

        return slice_from_right


@hookimpl
def register_mapping_functions(register: Register) -> None:
    """Contribute ``sliceFromLeft`` and ``sliceFromRight``."""
    register("sliceFromLeft", SliceFromLeftFunction())
    register("sliceFromRight", SliceFromRightFunction())
