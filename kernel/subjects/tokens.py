"""Subject token helpers: validation, wildcard matching, collision and subset tests.

Mirrors the subject helpers of nats-server's ``sublist.go`` (``IsValidSubject``,
``subjectIsLiteral``, ``matchLiteral``, ``SubjectsCollide``, ``subjectIsSubsetMatch``).

Every function takes ``bytes``. Tokens are separated by ``.``; ``*`` and ``>`` are wildcards
only when they form a whole token (``foo.*bar`` is literal text). ``*`` matches exactly one
token, ``>`` one or more trailing tokens and is only valid as the last token.

The checks are written as a handful of C-level ``bytes`` operations (``in``, ``split``,
``startswith``) rather than per-byte Python loops, because the protocol layer calls them for
every SUB and (in pedantic mode) every PUB.
"""

from __future__ import annotations

import re

__all__ = [
    "FWC",
    "PWC",
    "SEP",
    "is_insertable_subject",
    "is_literal",
    "is_subset",
    "is_valid_literal_subject",
    "is_valid_pub_subject",
    "is_valid_queue_name",
    "is_valid_subject",
    "matches",
    "subjects_collide",
]

SEP = b"."
"""Token separator."""
PWC = b"*"
"""Partial wildcard token: matches exactly one token."""
FWC = b">"
"""Full wildcard token: matches one or more trailing tokens; only valid as the last token."""

# nats-server rejects exactly these whitespace bytes (space, tab, LF, CR, FF); VT is allowed.
_WHITESPACE = re.compile(rb"[ \t\n\r\f]").search


def is_valid_subject(subject: bytes) -> bool:
    """Return True if ``subject`` is valid for SUB (wildcards allowed).

    Valid means: non-empty, no empty token (no leading/trailing ``.`` and no ``..``), none of
    space, tab, CR, LF, FF anywhere, and ``>`` as a whole token only in last position.
    """
    if not subject or subject[0] == 0x2E or subject[-1] == 0x2E or b".." in subject:
        return False
    if _WHITESPACE(subject) is not None:
        return False
    # With no empty tokens, a non-final whole ``>`` token is either the first token or
    # sits between two separators.
    return not (subject.startswith(b">.") or b".>." in subject)


def is_literal(subject: bytes) -> bool:
    """Return True if ``subject`` has no ``*`` or ``>`` whole token (does not check validity)."""
    if b"*" not in subject and b">" not in subject:
        return True
    tokens = subject.split(SEP)
    return PWC not in tokens and FWC not in tokens


def is_valid_literal_subject(subject: bytes) -> bool:
    """Return True if ``subject`` is valid and has no wildcard token (a publish subject)."""
    return is_valid_subject(subject) and is_literal(subject)


def is_valid_pub_subject(subject: bytes) -> bool:
    """nats-server ``IsValidLiteralSubject``, pedantic's PUB check: no empty token, no wildcard.

    Unlike :func:`is_valid_literal_subject` it does not look for whitespace: a PUB subject
    holding a form feed or a vertical tab passes (its spaces and tabs never reach it).
    """
    if not subject or subject[0] == 0x2E or subject[-1] == 0x2E or b".." in subject:
        return False
    return is_literal(subject)


def is_insertable_subject(subject: bytes) -> bool:
    """Whether nats-server's sublist ``Insert`` takes ``subject`` (the SUB check).

    No empty token and nothing after a ``>`` token; bytes such as form feed or NUL are
    accepted (the protocol's separators never reach it).
    """
    if not subject or subject[0] == 0x2E or subject[-1] == 0x2E or b".." in subject:
        return False
    return not (subject.startswith(b">.") or b".>." in subject)


def is_valid_queue_name(queue: bytes) -> bool:
    """Return True if ``queue`` is usable as a queue group name.

    nats-server 2.9 accepts any non-empty token the parser hands it (``q.*`` or ``>`` are
    plain names, not patterns); only whitespace can never be part of one.
    """
    return bool(queue) and _WHITESPACE(queue) is None


def matches(pattern: bytes, subject: bytes) -> bool:
    """Return True if the literal ``subject`` is matched by ``pattern`` (which may use wildcards).

    ``pattern`` is assumed valid. A wildcard pattern never matches a subject with an empty
    token (``foo.*`` does not match ``foo.``); a literal pattern matches only itself.
    """
    if b"*" not in pattern and b">" not in pattern:
        return pattern == subject
    ptoks = pattern.split(SEP)
    stoks = subject.split(SEP)
    n = len(ptoks)
    if ptoks[-1] == FWC:
        n -= 1
        if len(stoks) <= n:
            return False
    elif len(stoks) != n:
        return False
    if b"" in stoks:
        return False
    for i in range(n):
        p = ptoks[i]
        if p != stoks[i] and p != PWC:
            return False
    return True


def subjects_collide(a: bytes, b: bytes) -> bool:
    """Return True if some literal subject is matched by both patterns ``a`` and ``b``.

    Exact also for wildcard patterns of different lengths: ``foo.*`` and ``foo.*.>`` do not
    collide (older nats-server releases' ``SubjectsCollide`` said they do).
    """
    if a == b:
        return True
    atoks = a.split(SEP)
    btoks = b.split(SEP)
    na = len(atoks)
    nb = len(btoks)
    for i in range(min(na, nb)):
        x = atoks[i]
        y = btoks[i]
        if x == FWC or y == FWC:
            # One side accepts any remaining tokens (at least one), and the other side has
            # at least this one token left, which some literal token can satisfy.
            return True
        if x != y and x != PWC and y != PWC:
            return False
    # No ``>`` in the common prefix: the shorter pattern has none at all, so it matches
    # only subjects of its own length, which the longer pattern cannot match.
    return na == nb


def is_subset(sub: bytes, of: bytes) -> bool:
    """Return True if every subject matched by ``sub`` is also matched by ``of``.

    Both may contain wildcards: ``foo.*`` is a subset of ``>``, ``*.*`` and ``foo.*`` but not
    of ``foo.bar`` or ``foo.*.>``. Used for permission and consumer-filter checks.
    """
    if sub == of:
        return True
    stoks = sub.split(SEP)
    otoks = of.split(SEP)
    ns = len(stoks)
    no = len(otoks)
    for i in range(no):
        o = otoks[i]
        if i >= ns:
            return False
        if o == FWC:
            return True
        s = stoks[i]
        if s == FWC:
            return False
        if o == PWC:
            continue
        if s != o:
            return False
    return ns == no
