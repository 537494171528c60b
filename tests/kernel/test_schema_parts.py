"""The shared listener schema: every TCP-listening section spells host/port/enabled alike."""

from __future__ import annotations

import pytest
from natskern.kernel.errors import ConfigError
from natskern.kernel.schema_parts import listener_properties, listener_schema

from natskern import Broker


def test_listener_schema_puts_the_shared_properties_first() -> None:
    schema = listener_schema("x", port=1, enabled=False, properties={"extra": {"type": "string"}})
    assert list(schema["properties"]) == ["enabled", "host", "port", "extra"]
    assert schema["additionalProperties"] is False and schema["description"] == "x"
    assert schema["properties"]["port"]["default"] == 1


@pytest.mark.parametrize(("section", "port", "enabled"), [("tcp", 4222, True), ("websocket", 8080, False), ("monitoring", 8222, False)])  # fmt: skip
def test_builtin_listeners_use_it(section: str, port: int, enabled: bool) -> None:
    properties = Broker({"tcp": {"enabled": False}}).schema["properties"][section]["properties"]
    for name, value in listener_properties(port=port, enabled=enabled).items():
        assert properties[name] == value


def test_the_port_range_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"monitoring\.port"):
        Broker({"monitoring": {"port": 70000}})
