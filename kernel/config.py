"""The broker's configuration: a merged JSON Schema from every plugin, loading and validation.

Each plugin owns top-level sections and contributes their schema through the
``config_schema`` hook, and may add keys inside another plugin's section by a
dotted path (``accounts.*.jetstream``).  The kernel merges the fragments into
one schema (unknown sections are errors), fills in defaults while validating,
and reports the first problem as one line naming the key and what was
expected.  The :data:`RELOAD` keyword marks what a reload may change
(:mod:`natskern.kernel.reload`).
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from natskern.kernel.errors import ConfigError

Schema = dict[str, Any]


def _extend_with_defaults(base: type[Validator]) -> type[Validator]:
    """A validator class that also writes each property's ``default`` into the instance."""
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(base, {"properties": set_defaults})


DefaultingValidator = _extend_with_defaults(Draft202012Validator)


#: Schema keyword marking what a reload may change: ``"live"`` (applied while running,
#: through the ``reload`` hook) or ``"restart"`` (only a restart changes it).  It is
#: inherited by everything below the node that carries it; unmarked is ``"restart"``.
RELOAD = "x-natskern-reload"
LIVE = "live"
RESTART = "restart"


def child_schema(schema: Mapping[str, Any], key: str, *, declared: bool = False) -> Schema | None:
    """The subschema of ``key`` inside an object schema; None when it has none.

    ``*`` stands for the entries of a map (``additionalProperties``); any other key is
    looked up in ``properties``, then (unless ``declared``) taken as a map entry.
    """
    found = None if key == "*" else (schema.get("properties") or {}).get(key)
    if found is None and (key == "*" or not declared):
        found = schema.get("additionalProperties")
    return found if isinstance(found, dict) else None


def merge_schemas(fragments: Iterable[tuple[str, Mapping[str, Schema]]]) -> Schema:
    """Merge ``(plugin name, {section or path: schema})`` pairs into one object schema.

    A key without a dot is a top-level section.  A dotted key is a path into another
    plugin's section: ``accounts.*.jetstream`` adds the property ``jetstream`` to the
    schema of every entry of the ``accounts`` map (``*`` follows ``additionalProperties``,
    any other token ``properties``).  Two plugins claiming the same section or path, a
    path whose parent does not exist inside its section, and a path onto a key its
    section already defines are errors naming the plugins involved.  A path into a
    section nobody owns is dropped (its owner is blocked or not installed: the section
    itself is refused).  Fragments are copied: a plugin's module-level schema is never
    modified.
    """
    properties: dict[str, Schema] = {}
    owners: dict[str, str] = {}
    nested: list[tuple[str, str, Schema]] = []
    for plugin, sections in fragments:
        for section, schema in sections.items():
            if section in owners:
                what = "config path" if "." in section else "config section"
                raise ConfigError(
                    f"{what} {section!r} is claimed by two plugins: "
                    f"{owners[section]!r} and {plugin!r}"
                )
            owners[section] = plugin
            if "." in section:
                nested.append((section, plugin, copy.deepcopy(dict(schema))))
                continue
            fragment = copy.deepcopy(dict(schema))
            if fragment.get("type") == "object":
                fragment.setdefault("default", {})
            properties[section] = fragment
    for path, plugin, fragment in sorted(nested, key=lambda item: item[0].count(".")):
        _graft(properties, owners, path, plugin, fragment)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "natskern broker configuration",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def _graft(
    properties: dict[str, Schema],
    owners: Mapping[str, str],
    path: str,
    plugin: str,
    fragment: Schema,
) -> None:
    """Add ``fragment`` at the dotted ``path`` (see :func:`merge_schemas`)."""
    section, *middle, leaf = path.split(".")
    if not section or not leaf or "*" in (section, leaf) or "" in middle:
        raise ConfigError(
            f"plugin {plugin!r}: config path {path!r} must name a key inside a section"
        )
    parent = properties.get(section)
    if parent is None:  # its owner is blocked or not installed: nothing to add to
        return
    # The plugin that owns the nearest enclosing node: the section's, or a graft's.
    owner = owners[section]
    walked = section
    for token in middle:
        walked = f"{walked}.{token}"
        child = child_schema(parent, token, declared=True)
        if child is None:
            raise ConfigError(
                f"plugin {plugin!r} adds config path {path!r}, but {walked!r} "
                f"(plugin {owner!r}) is not an object schema with that key"
            )
        parent = child
        owner = owners.get(walked, owner)
    if leaf in (parent.get("properties") or {}):
        raise ConfigError(
            f"config path {path!r} is claimed by two plugins: {owner!r} and {plugin!r}"
        )
    parent.setdefault("properties", {})[leaf] = fragment


def _describe(error: ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{path}: {error.message}"
    if error.validator == "type":
        expected = error.validator_value
        return f"{path}: expected {expected}, got {json.dumps(error.instance)}"
    if error.validator == "enum":
        choices = ", ".join(json.dumps(c) for c in cast(list[Any], error.validator_value))
        return f"{path}: expected one of {choices}, got {json.dumps(error.instance)}"
    return f"{path}: {error.message}"


def validate(config: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """Return a validated deep copy of ``config`` with every default filled in."""
    instance = copy.deepcopy(dict(config))
    validator = DefaultingValidator(schema)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        raise ConfigError(f"invalid configuration: {_describe(error)}")
    return instance


def load_file(path: str | Path) -> dict[str, Any]:
    """Load a TOML (``.toml``) or JSON (``.json``) configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base`` (tables merge, other values replace)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
