"""Registries check each component's shape on registration and name both plugins of a duplicate."""

from __future__ import annotations

import pluggy
import pytest
from natskern.kernel import hookspecs
from natskern.kernel.plugins import implementations
from natskern.kernel.registry import (
    Registry,
    callable_with,
    has_method,
    is_callable,
    mapping_function_registry,
    transport_registry,
)

from natskern import Broker, PluginError, hookimpl


def _pm(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{i}")
    return pm


class _Transports:
    def __init__(self, *pairs: tuple[str, object]) -> None:
        self.pairs = pairs

    @hookimpl
    def register_transports(self, register):
        for name, component in self.pairs:
            register(name, component)


class _Functions:
    def __init__(self, *pairs: tuple[str, object]) -> None:
        self.pairs = pairs

    @hookimpl
    def register_mapping_functions(self, register):
        for name, component in self.pairs:
            register(name, component)


class _Good:
    def compile(self, args, wildcard_count):
        return lambda tokens, wildcards: b"x"


class _OneArgCompile:
    def compile(self, args):
        return None


def test_a_transport_factory_must_be_callable() -> None:
    with pytest.raises(PluginError, match=r"plugin 'p0' registered transport 'x' which is not"):
        transport_registry().collect(_pm(_Transports(("x", object()))))


def test_a_transport_factory_must_take_broker_and_section() -> None:
    with pytest.raises(PluginError, match=r"cannot be called as \(broker, section\)"):
        transport_registry().collect(_pm(_Transports(("x", lambda broker: None))))
    registry = transport_registry().collect(_pm(_Transports(("x", lambda *args: None))))
    assert "x" in registry and registry.owner("x") == "p0"


def test_a_mapping_function_needs_compile_with_two_arguments() -> None:
    with pytest.raises(PluginError, match=r"'f' without compile\(args, wildcard_count\)"):
        mapping_function_registry().collect(_pm(_Functions(("f", object()))))
    with pytest.raises(PluginError, match=r"'f' whose compile\(\) cannot be called"):
        mapping_function_registry().collect(_pm(_Functions(("f", _OneArgCompile()))))


def test_mapping_function_duplicates_are_case_folded_and_name_both_plugins() -> None:
    pm = _pm(_Functions(("Upper", _Good())), _Functions(("UPPER", _Good())))
    with pytest.raises(
        PluginError, match=r"'UPPER' is registered twice: by plugin 'p0' and by plugin 'p1'"
    ):
        mapping_function_registry().collect(pm)


def test_a_name_is_compared_as_given_without_casefold() -> None:
    registry = transport_registry().collect(
        _pm(_Transports(("tcp", lambda b, s: None)), _Transports(("TCP", lambda b, s: None)))
    )
    assert sorted(registry) == ["TCP", "tcp"]
    assert registry.owner("TCP") == "p1"


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(PluginError, match="registered a transport without name"):
        transport_registry().collect(_pm(_Transports(("", lambda b, s: None))))


def test_the_duplicate_check_comes_before_the_shape_check() -> None:
    registry: Registry[object] = Registry("thing", check=is_callable)
    registry.add("a", len, "first")
    with pytest.raises(PluginError, match="'a' is registered twice"):
        registry.add("a", object(), "second")


def test_builtins_without_signature_are_trusted() -> None:
    assert callable_with("x", "y")(dict) is None
    assert has_method("get", "key")({}) is None


def test_a_storage_backend_must_be_callable() -> None:
    class Bad:
        @hookimpl
        def register_storage_backends(self, register):
            register("null", 42)

    with pytest.raises(PluginError, match="storage backend 'null' which is not callable"):
        Broker({"tcp": {"enabled": False}}, plugins=[Bad()])


def test_implementations_pass_declared_arguments_and_skip_wrappers() -> None:
    calls = []

    class Plain:
        @hookimpl
        def register_transports(self):
            calls.append("plain")

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_transports(self, register):
            calls.append("wrapper")
            return (yield)

    pm = _pm(Plain(), Wrapper())
    owners = [
        owner
        for owner, call in implementations(pm.hook.register_transports)
        if not call(register=print)
    ]
    assert owners == ["p0"] and calls == ["plain"]
    only = [owner for owner, _ in implementations(pm.hook.register_transports, plugin=object())]
    assert only == []
