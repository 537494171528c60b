"""Subject transforms of stream configs, compiled by the kernel's one mapping engine.

Streams use transforms in ``subject_transform``, ``republish`` and the
``subject_transforms`` of sources and mirrors.  They compile through
:func:`natskern.kernel.subjects.transform.compile_mapping` with the broker's registered
mapping functions (there is no second engine); what this module adds is nats-server's
wording of a failure (``invalid mapping destination: unknown function in {{foo(1)}}``),
from the checks of its ``ValidateMapping`` and ``NewSubjectTransform``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from natskern.kernel.subjects.tokens import is_valid_subject
from natskern.kernel.subjects.transform import (
    MappingError,
    MappingFunction,
    SubjectTransform,
    compile_mapping,
)

__all__ = ["compile_transform", "mapping_error", "transform_error"]

_DEST: Final = "invalid mapping destination"
_WS: Final = re.compile(r"[\t\n\f\r ]").search
_IN_TOKEN: Final = re.compile(r" in (\S+)$")
_INDEX: Final = re.compile(r"wildcard index (-?\d+)")
_TAKES: Final = re.compile(r"takes (one|two) arguments?.*got (\d+)")
_FUNCTION: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*\}\}", re.DOTALL)


def compile_transform(
    src: str, dest: str, functions: Mapping[str, MappingFunction]
) -> SubjectTransform | None:
    """The compiled ``src -> dest`` (``src`` empty means ``>``); None when ``dest`` is empty."""
    if not dest:
        return None
    return compile_mapping(src or ">", dest, functions)


def _info(subject: str) -> tuple[bool, int, bool]:
    """(valid, number of ``*`` tokens, ends with ``>``) like nats-server's ``subjectInfo``."""
    if not is_valid_subject(subject.encode()):
        return False, 0, False
    tokens = subject.split(".")
    return True, tokens.count("*"), tokens[-1] == ">"


def _explain(err: MappingError, wildcards: int) -> str:
    """nats-server's words for a failure of our compiler."""
    text = str(err)
    m = _IN_TOKEN.search(text)
    token = m.group(1) if m else ""
    if "unknown mapping function" in text:
        return f"{_DEST}: unknown function in {token}"
    if "out of range" in text:
        index = _INDEX.search(text)
        if wildcards and index:
            return f"{_DEST}: wildcard index out of range in {token}: [{index.group(1)}]"
        return f"{_DEST}: wildcard index out of range in {token}"
    takes = _TAKES.search(text)
    if takes:
        need = 1 if takes.group(1) == "one" else 2
        what = "not enough" if int(takes.group(2)) < need else "too many"
        return f"{_DEST}: {what} arguments passed to the function in {token}"
    if token:
        return f"{_DEST}: function argument is invalid or in the wrong format in {token}"
    return "invalid subject"


def transform_error(
    src: str, dest: str, functions: Mapping[str, MappingFunction] | None
) -> str | None:
    """nats-server's ``NewSubjectTransform`` error text for ``src -> dest``, or None if valid."""
    if not dest:
        return None
    src = src or ">"
    sv, _, sfwc = _info(src)
    dv, dpwcs, dfwc = _info(dest)
    if not sv or not dv or dpwcs > 0 or sfwc != dfwc:
        return "invalid subject"
    wildcards = src.split(".").count("*")
    if functions is None:
        return None
    try:
        compile_mapping(src, dest, functions)
    except MappingError as err:
        return _explain(err, wildcards)
    return None


def mapping_error(
    src: str, dest: str, functions: Mapping[str, MappingFunction] | None
) -> str | None:
    """nats-server's ``ValidateMapping`` error text for ``src -> dest``, or None if valid."""
    if not dest:
        return None
    after_fwc = False
    for token in dest.split("."):
        if not token or after_fwc:
            return f"{_DEST}: invalid transform" + (f" in {token}" if token else "")
        if len(token) > 4 and token.startswith("{{") and token.endswith("}}"):
            m = _FUNCTION.fullmatch(token)
            known = functions is None or (m is not None and m.group(1).lower() in functions)
            if not known:
                return f"{_DEST}: unknown function in {token}"
            continue
        if token == ">":
            after_fwc = True
        elif _WS(token):
            return f"{_DEST}: invalid transform"
    return transform_error(src, dest, functions)
