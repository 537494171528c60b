"""A reload of the auth section keeps the TLS port's longer authorization timeout."""

from __future__ import annotations

from typing import Any

from natskern import Broker


def test_auth_reload_keeps_the_tls_auth_timeout(pki: Any) -> None:
    tls = pki.server_tls()
    users = {"users": [{"user": "a", "password": "b"}]}
    broker = Broker({"tcp": {"enabled": False}, "auth": users, "tls": tls})
    assert broker.auth_timeout == 3.0
    more = {"users": [{"user": "a", "password": "c"}]}
    assert broker.reload({"tcp": {"enabled": False}, "auth": more, "tls": tls}).lines == ("auth",)
    assert broker.auth_timeout == 3.0
    explicit = {**more, "timeout": 1.5}
    broker.reload({"tcp": {"enabled": False}, "auth": explicit, "tls": tls})
    assert broker.auth_timeout == 1.5
