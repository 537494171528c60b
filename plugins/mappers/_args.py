"""Argument checks shared by the ``(wildcard index, integer)`` mapping functions."""

from __future__ import annotations

from natskern.kernel.subjects.transform import MappingError, parse_int, wildcard_index


def index_and_int(name: str, what: str, args: list[str], wildcard_count: int) -> tuple[int, int]:
    """Parse ``name(N, value)``: a wildcard index and an integer called ``what``."""
    if len(args) != 2:
        raise MappingError(f"{name} takes two arguments (wildcard index, {what}), got {len(args)}")
    return wildcard_index(args[0], wildcard_count), parse_int(args[1], what)
