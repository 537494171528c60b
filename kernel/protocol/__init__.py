"""The NATS client protocol: sans-IO parser, frame encoders, message-header helpers."""

from natskern.kernel.protocol.encode import (
    OK,
    PING,
    PONG,
    err_line,
    hmsg_frame,
    hmsg_head,
    info_line,
    msg_frame,
    msg_head,
)
from natskern.kernel.protocol.headers import (
    NO_RESPONDERS_HDR,
    build_headers,
    header_value,
    parse_headers,
)
from natskern.kernel.protocol.parser import (
    ERR_MAX_CONTROL_LINE,
    ERR_MAX_PAYLOAD,
    ERR_UNKNOWN_OP,
    Parser,
    ProtocolHandler,
)

__all__ = [
    "ERR_MAX_CONTROL_LINE",
    "ERR_MAX_PAYLOAD",
    "ERR_UNKNOWN_OP",
    "NO_RESPONDERS_HDR",
    "OK",
    "PING",
    "PONG",
    "Parser",
    "ProtocolHandler",
    "build_headers",
    "err_line",
    "header_value",
    "hmsg_frame",
    "hmsg_head",
    "info_line",
    "msg_frame",
    "msg_head",
    "parse_headers",
]
