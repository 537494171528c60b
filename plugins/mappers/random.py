"""``random(P)``: a random number ``0..P-1`` per message (allowed without wildcards)."""

from __future__ import annotations

import random as _random
from collections.abc import Sequence

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.subjects.transform import MappingError, TokenOp, parse_int

__all__ = ["RandomFunction"]


class RandomFunction:
    """``random(P)``: uniform in ``0..P-1``; ``rng`` may be seeded for reproducible tests."""

    name = "random"

    def __init__(self, rng: _random.Random | None = None) -> None:
        self.rng = rng or _random.Random()

    def compile(self, args: list[str], wildcard_count: int) -> TokenOp:
        """Check there is one argument, the number of values P >= 1."""
        if len(args) != 1:
            raise MappingError(f"random takes one argument (the number of values), got {len(args)}")
        n = parse_int(args[0], "number of values", minimum=1)
        below = self.rng.randrange
        if n <= 4096:
            labels = [str(i).encode() for i in range(n)]
            pick = self.rng.random

            def random_label(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
                return labels[int(pick() * n)]

            return random_label

        def random_number(tokens: Sequence[bytes], wildcards: Sequence[int]) -> bytes:
            return str(below(n)).encode()

        return random_number


@hookimpl
def register_mapping_functions(register: Register) -> None:
    """Contribute ``random``."""
    register("random", RandomFunction())
