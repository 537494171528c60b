"""Go-typed JSON decoding of CONNECT/INFO (``natskern.kernel.protocol.typedjson``)."""

from __future__ import annotations

import pytest
from natskern.kernel.protocol.typedjson import (
    BOOL,
    BYTES,
    INT,
    PERMISSION,
    STR,
    STRLIST,
    UINT64,
    TypedJSONError,
    decode_struct,
)

FIELDS = {
    "verbose": BOOL,
    "name": STR,
    "protocol": INT,
    "cid": UINT64,
    "urls": STRLIST,
    "import": PERMISSION,
    "blob": BYTES,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"{}", {}),
        (b"null", {}),
        (b' \t\n{"verbose":false}\r\n', {"verbose": False}),
        (b'{"VERBOSE":false,"Name":"x"}', {"verbose": False, "name": "x"}),
        (b'{"verbo\xc5\xbfe":true}', {"verbose": True}),  # long s folds to s, as in Go
        (b'{"verbose":false,"verbose":null}', {"verbose": False}),
        (b'{"verbose":true,"verbose":false}', {"verbose": False}),
        (b'{"name":"a\xfeb"}', {"name": "a\ufffdb"}),
        (b'{"name":"\\ud800"}', {"name": "\ufffd"}),
        (b'{"protocol":-0,"cid":18446744073709551615}', {"protocol": 0, "cid": 2**64 - 1}),
        (
            b'{"urls":["a",null],"import":{"allow":["x"],"other":1}}',
            {"urls": ["a", ""], "import": {"allow": ["x"]}},
        ),
        (b'{"blob":"aGk="}', {"blob": b"hi"}),
        (b'{"unknown":[1,{"x":null}],"Unknown":"s"}', {}),
    ],
)
def test_what_go_decodes(text: bytes, expected: dict) -> None:
    assert decode_struct(text, FIELDS) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"[]",
        b"1",
        b'"s"',
        b'{"verbose":1}',
        b'{"verbose":"true"}',
        b'{"name":5}',
        b'{"name":["x"]}',
        b'{"protocol":"1"}',
        b'{"protocol":1.0}',
        b'{"protocol":1e2}',
        b'{"protocol":9223372036854775808}',
        b'{"cid":-1}',
        b'{"urls":"a"}',
        b'{"urls":[1]}',
        b'{"import":[]}',
        b'{"import":{"allow":"x"}}',
        b'{"blob":"!"}',
        b'{"x":NaN}',
        b'{"x":-Infinity}',
        b'{"verbose":false} x',
        b'{"verbose":false,}',
        b'{"name":"\x01"}',
    ],
)
def test_what_go_refuses(text: bytes) -> None:
    with pytest.raises(TypedJSONError):
        decode_struct(text, FIELDS)
