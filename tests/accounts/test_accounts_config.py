"""Which export/import configurations are refused, and with what words: natskern vs nats-server."""

from __future__ import annotations

import pytest
from accounts_helpers import nats_server_refusal, natskern_config, natskern_refusal
from natskern.kernel.errors import ConfigError

from natskern import Broker
from tests.support.servers import NATS_SERVER, nats_server


def _conf(a: str, b: str, extra: str = "") -> str:
    return f"accounts {{ A: {{ {a} }}, B: {{ {b} }} {extra} }}"


REFUSED = {
    "not exported": (
        _conf('exports: [{stream: "x.>"}]', 'imports: [{stream: {account: A, subject: "y.>"}}]'),
        'Error adding stream import "y.>": stream import not authorized',
    ),
    "restricted to another account": (
        _conf(
            'exports: [{stream: "x.>", accounts: [C]}]',
            'imports: [{stream: {account: A, subject: "x.>"}}]',
            ", C: {}",
        ),
        'Error adding stream import "x.>": stream import not authorized',
    ),
    "service not exported": (
        _conf('exports: [{service: "x.>"}]', 'imports: [{service: {account: A, subject: "y"}}]'),
        'Error adding service import "y": service import not authorized',
    ),
    "stream export imported as a service": (
        _conf('exports: [{stream: "x.>"}]', 'imports: [{service: {account: A, subject: "x.a"}}]'),
        'Error adding service import "x.a": service import not authorized',
    ),
    "import wider than the export": (
        _conf('exports: [{stream: "x.a"}]', 'imports: [{stream: {account: A, subject: "x.>"}}]'),
        'Error adding stream import "x.>": stream import not authorized',
    ),
    "an export on the very subject decides": (
        _conf(
            'exports: [{service: "x.>", accounts: [B]}, {service: "x.a", accounts: [C]}]',
            'imports: [{service: {account: A, subject: "x.a"}}]',
            ", C: {}",
        ),
        'Error adding service import "x.a": service import not authorized',
    ),
    "service mapping drops a wildcard": (
        _conf(
            'exports: [{service: "x.*"}]',
            'imports: [{service: {account: A, subject: "x.*"}, to: "q"}]',
        ),
        "not using all of the token wildcard(s) in q",
    ),
    "service mapping index out of range": (
        _conf(
            'exports: [{service: "x.*"}]',
            'imports: [{service: {account: A, subject: "x.*"}, to: "y.$2"}]',
        ),
        "wildcard index out of range in $2",
    ),
    "stream mapping drops a wildcard": (
        _conf(
            'exports: [{stream: "x.*"}]',
            'imports: [{stream: {account: A, subject: "x.*"}, to: "q"}]',
        ),
        "not using all of the token wildcard(s) in q",
    ),
    "wildcard prefix": (
        _conf(
            'exports: [{stream: "x.>"}]',
            'imports: [{stream: {account: A, subject: "x.*"}, prefix: "p.*"}]',
        ),
        "stream import prefix can not contain wildcard tokens",
    ),
    "stream imported twice": (
        _conf(
            'exports: [{stream: "x.>"}]',
            'imports: [{stream: {account: A, subject: "x.>"}, prefix: "p"},'
            ' {stream: {account: A, subject: "x.>"}, prefix: "q"}]',
        ),
        'Error adding stream import "x.>": stream import already exists',
    ),
    "service subject imported twice": (
        _conf(
            'exports: [{service: "x.>"}]',
            'imports: [{service: {account: A, subject: "x.>"}, to: "y.>"},'
            ' {service: {account: A, subject: "x.>"}, to: "y.>"}]',
        ),
        'Duplicate service import subject "y.>", previously used in import for account "A"',
    ),
    "service cycle": (
        _conf(
            'exports: [{service: "x"}], imports: [{service: {account: B, subject: "x"}}]',
            'exports: [{service: "x"}], imports: [{service: {account: A, subject: "x"}}]',
        ),
        "import forms a cycle",
    ),
    "stream cycle": (
        _conf(
            'exports: [{stream: "x.>"}], imports: [{stream: {account: B, subject: "x.>"}}]',
            'exports: [{stream: "x.>"}], imports: [{stream: {account: A, subject: "x.>"}}]',
        ),
        "import forms a cycle",
    ),
    "export to an unknown account": (
        _conf('exports: [{service: "x.>", accounts: [Z]}]', ""),
        '"Z" account not defined for service export',
    ),
    "response type on a stream": (
        _conf('exports: [{stream: "x.>", response_type: stream}]', ""),
        "Detected response directive on non-service",
    ),
}

ACCEPTED = {
    "narrower import": _conf(
        'exports: [{stream: "x.>"}, {service: "s.>"}]',
        'imports: [{stream: {account: A, subject: "x.a.*"}}, {service: {account: A, subject: "s.a"}}]',
    ),
    "restricted export naming the importer": _conf(
        'exports: [{service: "s.>", accounts: [B]}]',
        'imports: [{service: {account: A, subject: "s.>"}, to: "t.>"}]',
    ),
    "importing from one's own account": _conf(
        'exports: [{service: "x.>"}, {stream: "y.>"}],'
        ' imports: [{service: {account: A, subject: "x.>"}, to: "z.>"},'
        ' {stream: {account: A, subject: "y.>"}, prefix: "p"}]',
        "",
    ),
    "a chain without a cycle": _conf(
        'exports: [{service: "x.>"}]',
        'imports: [{service: {account: A, subject: "x.>"}}], exports: [{service: "x.>"}]',
        ', C: { imports: [{service: {account: B, subject: "x.>"}}] }',
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_like_nats_server(case: str) -> None:
    conf, phrase = REFUSED[case]
    assert phrase in natskern_refusal(conf)
    if NATS_SERVER is not None:
        assert phrase in nats_server_refusal(conf)


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted_like_nats_server(case: str) -> None:
    Broker(natskern_config(ACCEPTED[case]))
    if NATS_SERVER is not None:
        with nats_server(ACCEPTED[case]):
            pass


def test_import_from_an_undefined_account_is_refused() -> None:
    config = {"accounts": {"B": {"imports": [{"service": {"account": "Z", "subject": "x"}}]}}}
    with pytest.raises(ConfigError, match='"Z" account not defined for service import'):
        Broker(config)


def test_error_names_the_account_and_entry() -> None:
    config = {
        "accounts": {
            "A": {"exports": [{"stream": "x.>"}]},
            "B": {"imports": [{"stream": {"account": "A", "subject": "y"}}]},
        }
    }
    with pytest.raises(ConfigError, match=r"^accounts\.B\.imports\[0\]: Error adding stream"):
        Broker(config)


def test_blocking_the_plugin_leaves_accounts_isolated() -> None:
    # exports and imports belong to the accounts plugin: blocked, nobody accepts them
    # (as a blocked transport's section is refused), and accounts stay apart
    wiring = {
        "A": {"exports": [{"stream": "x.>"}]},
        "B": {"imports": [{"stream": {"account": "A", "subject": "x.>"}}]},
    }
    block = {"plugins": {"block": ["accounts"]}}
    with pytest.raises(ConfigError, match=r"accounts\.[AB]: .*'(ex|im)ports' was unexpected"):
        Broker({**block, "accounts": wiring})
    broker = Broker({**block, "accounts": {"A": {}, "B": {}}})
    assert "accounts" not in broker.plugin_state
    assert not broker.get_account("A").sublist.match(b"x.1").psubs
