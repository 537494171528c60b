"""Subjects: token validation and matching helpers, and the routing trie with its cache."""

from natskern.kernel.subjects.sublist import EMPTY_RESULT, Sublist, SublistResult
from natskern.kernel.subjects.tokens import (
    is_literal,
    is_subset,
    is_valid_literal_subject,
    is_valid_queue_name,
    is_valid_subject,
    matches,
    subjects_collide,
)

__all__ = [
    "EMPTY_RESULT",
    "Sublist",
    "SublistResult",
    "is_literal",
    "is_subset",
    "is_valid_literal_subject",
    "is_valid_queue_name",
    "is_valid_subject",
    "matches",
    "subjects_collide",
]
