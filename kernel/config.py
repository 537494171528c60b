"""The broker's configuration: a merged JSON Schema from every plugin, loading and validation.

Each plugin owns top-level sections and contributes their schema through the
``config_schema`` hook.  The kernel merges the fragments into one schema
(unknown sections are errors), fills in defaults while validating, and reports
the first problem as one line naming the key and what was expected.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from natskern.kernel.errors import ConfigError

Schema = dict[str, Any]


def _extend_with_defaults(base: type) -> type:
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


def merge_schemas(fragments: Iterable[tuple[str, Mapping[str, Schema]]]) -> Schema:
    """Merge ``(plugin name, {section: schema})`` pairs into one object schema.

    Two plugins claiming the same section is an error naming both.
    """
    properties: dict[str, Schema] = {}
    owners: dict[str, str] = {}
    for plugin, sections in fragments:
        for section, schema in sections.items():
            if section in owners:
                raise ConfigError(
                    f"config section {section!r} is claimed by two plugins: "
                    f"{owners[section]!r} and {plugin!r}"
                )
            owners[section] = plugin
            fragment = dict(schema)
            if fragment.get("type") == "object":
                fragment.setdefault("default", {})
            properties[section] = fragment
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "natskern broker configuration",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def _describe(error: ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{path}: {error.message}"
    if error.validator == "type":
        expected = error.validator_value
        return f"{path}: expected {expected}, got {json.dumps(error.instance)}"
    if error.validator == "enum":
        choices = ", ".join(json.dumps(c) for c in error.validator_value)
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
