"""``{{wildcard(N)}}`` (and the legacy ``$N``): copy the N-th ``*`` token of the source."""

from __future__ import annotations

from collections.abc import Sequence

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.subjects.transform import MappingError, TokenOp, wildcard_index

__all__ = ["WildcardFunction", "WildcardOp"]


class WildcardOp:
    """Returns wildcard ``wildcard_index``; the compiler inlines it as a plain token copy."""

    __slots__ = ("wildcard_index",)

    #: The result depends only on the tokens.
    pure = True

    def __init__(self, index: int) -> None:
        self.wildcard_index = index

    def __call__(self, tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
        """The source token in wildcard position ``wildcard_index``."""
        return tokens[wildcards[self.wildcard_index - 1]]


class WildcardFunction:
    """``wildcard(N)``: the N-th (1-based) ``*`` token of the source subject."""

    name = "wildcard"

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check there is exactly one argument, a valid wildcard index."""
        if len(args) != 1:
            raise MappingError(f"wildcard takes one argument (a wildcard index), got {len(args)}")
        return WildcardOp(wildcard_index(args[0], wildcard_count))


@hookimpl
def register_mapping_functions(register: Register) -> None:
    """Contribute ``wildcard``."""
    register("wildcard", WildcardFunction())
