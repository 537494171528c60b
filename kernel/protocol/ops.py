"""What the parser's two paths share: op codes, error texts, argument splitting, sizes.

The op codes name what a control line turned out to be; the fast path
(``natskern.kernel.protocol.fastpath``) and the exact path
(``natskern.kernel.protocol.exact``) report them to each other.
"""

from __future__ import annotations

__all__ = [
    "ERR_AUTH_VIOLATION",
    "ERR_INVALID_PUB_SUBJECT",
    "ERR_MAX_CONTROL_LINE",
    "ERR_MAX_PAYLOAD",
    "ERR_UNKNOWN_OP",
    "parse_size",
    "pub_words",
    "sub_words",
]

ERR_UNKNOWN_OP = "Unknown Protocol Operation"
ERR_MAX_PAYLOAD = "Maximum Payload Violation"
ERR_MAX_CONTROL_LINE = "maximum control line exceeded"
ERR_INVALID_PUB_SUBJECT = "Invalid Publish Subject"
ERR_AUTH_VIOLATION = "Authorization Violation"

# Op codes.
PUB, HPUB, SUB, UNSUB, CONNECT, INFO, PING, PONG, OK, ERR, HMSG, OTHER = range(12)

MAX_SIZE_DIGITS = 9  # nats-server parseSize: at most 9 decimal digits
_TAB_TO_SPACE = bytes.maketrans(b"\t", b" ")
_SPLIT_ARG = bytes.maketrans(b"\t\r\n", b"   ")


def parse_size(token: bytes) -> int:
    """nats-server ``parseSize``: 1-9 ASCII digits, else -1."""
    if 0 < len(token) <= MAX_SIZE_DIGITS and token.isdigit():
        return int(token)
    return -1


def pub_words(arg: bytes) -> list[bytes]:
    """Split a PUB/HPUB argument on runs of spaces and tabs (only those)."""
    return [w for w in arg.translate(_TAB_TO_SPACE).split(b" ") if w]


def sub_words(arg: bytes) -> list[bytes]:
    """Split a SUB/UNSUB argument like nats-server ``splitArg`` (space, tab, CR, LF)."""
    return [w for w in arg.translate(_SPLIT_ARG).split(b" ") if w]
