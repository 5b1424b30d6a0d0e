"""The profile JSON Schema and validation that reports every error with its position.

Validation happens twice, as docker-compose does it: each *file* is checked on its
own (unknown keys, wrong types; nothing is required and any key may be ``null``,
because a child profile only overrides parts and ``null`` removes a key), then the
*merged* profile is checked against the full schema (required keys).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import Location, ProfileIssue

if TYPE_CHECKING:
    import jsonschema

_NULL = {"type": "null"}


@cache
def _schema_text() -> str:
    return resources.files("devenv").joinpath("schema/profile.schema.json").read_text()


@cache
def profile_schema() -> dict:
    """The full profile schema shipped inside the package."""
    return json.loads(_schema_text())


def _file_level(schema: Any) -> Any:
    """Relax the schema for a single file: drop `required`, allow null everywhere."""
    if isinstance(schema, list):
        return [_file_level(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("required", "minProperties"):
            continue
        if key == "properties":
            out[key] = {k: {"anyOf": [_NULL, _file_level(v)]} for k, v in value.items()}
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = {"anyOf": [_NULL, _file_level(value)]}
        else:
            out[key] = _file_level(value)
    return out


@cache
def _validator(level: str) -> jsonschema.protocols.Validator:
    import jsonschema   # ~0.25 s of imports: only when a document is not known valid (see validate)
    schema = profile_schema() if level == "merged" else _file_level(copy.deepcopy(profile_schema()))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """Unwrap the anyOf-null wrappers added by `_file_level` to reach the real error."""
    if error.validator == "anyOf" and error.validator_value and error.validator_value[0] == _NULL:
        inner = [e for e in error.context or [] if e.relative_schema_path and e.relative_schema_path[0] == 1]
        if inner:
            out = []
            for e in inner:
                out.extend(_leaf_errors(e))
            return out
    if error.validator == "oneOf" and error.context and isinstance(error.instance, (dict, list)):
        # a list-or-mapping field (depends_on): report the branch of the value's own kind
        # (a scalar's oneOf keeps the field's description, e.g. a port's range)
        branches: dict[int, list] = {}
        for e in error.context:
            branches.setdefault(e.relative_schema_path[0], []).append(e)
        fitting = [errs for errs in branches.values()
                   if not any(e.validator == "type" and not e.relative_path for e in errs)]
        if len(fitting) == 1:
            out = []
            for e in fitting[0]:
                out.extend(_leaf_errors(e))
            return out
    return [error]


def _is_key_of(data: Any, path: tuple, value: Any) -> bool:
    node = data
    for p in path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(node, dict) and isinstance(value, str) and value in node and node.get(value) is not value


def where_of(path: tuple) -> str:
    return _describe_path(path)


def _describe_path(path: tuple) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else (("." if parts else "") + str(p)))
    return "".join(parts) or "(top level)"


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def validate(data: dict, locate: Callable[[tuple], Location], level: str = "file") -> list[ProfileIssue]:
    """Every schema violation of ``data``, each located in its file with a hint where one fits.

    A document found valid once is remembered (a marker named by the digest of the schema,
    the level and the document) in the cache directory: the same document against the
    same schema is valid again, and the next command skips jsonschema altogether.
    """
    marker = _valid_marker(data, level)
    if marker is not None and marker.exists():
        return []
    issues = _validate(data, locate, level)
    if not issues and marker is not None:
        _touch(marker)
    return issues


def _valid_marker(data: dict, level: str) -> Path | None:
    from ..paths import cache_dir
    try:
        document = json.dumps(data, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(f"{level}\0{_schema_text()}\0{document}".encode()).hexdigest()
    return cache_dir() / "valid-profiles" / digest


def _touch(marker: Path) -> None:
    """Write the marker atomically; no marker (and no error) where the cache cannot be written."""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=marker.parent, prefix=".tmp-")
        os.close(fd)
        os.replace(tmp, marker)
    except OSError:
        pass


def _validate(data: dict, locate: Callable[[tuple], Location], level: str) -> list[ProfileIssue]:
    issues: list[ProfileIssue] = []
    seen: set[tuple] = set()
    for top in _validator(level).iter_errors(data):
        for error in _leaf_errors(top):
            for issue in _to_issues(error, locate, data):
                key = (issue.location, issue.message)
                if key not in seen:
                    seen.add(key)
                    issues.append(issue)
    return issues


def _to_issues(error: jsonschema.ValidationError, locate: Callable[[tuple], Location], data: Any) -> list[ProfileIssue]:
    path = tuple(error.absolute_path)
    if _is_key_of(data, path, error.instance):
        # a propertyNames failure: jsonschema reports it on the mapping, point at the key
        return [ProfileIssue(locate(path + (error.instance,)), f"{where_of(path)}: invalid name `{error.instance}`",
                             f"names must match {error.validator_value}" if error.validator == "pattern" else error.message)]
    where = _describe_path(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = sorted(schema.get("properties", {}))
        out = []
        for key in error.instance:
            if key in schema.get("properties", {}):
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else (f"known keys: {', '.join(known)}" if known else None)
            out.append(ProfileIssue(locate(path + (key,)), f"unknown key `{key}` in {where}", hint))
        return out
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
        return [ProfileIssue(locate(path), f"{where}: missing required key `{missing}`")]
    if error.validator == "enum":
        choices = [str(c) for c in error.validator_value]
        close = difflib.get_close_matches(str(error.instance), choices, n=1, cutoff=0.5)
        hint = f"did you mean `{close[0]}`?" if close else None
        return [ProfileIssue(locate(path), f"{where}: `{error.instance}` is not one of {', '.join(choices)}", hint)]
    if error.validator == "type":
        want = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [ProfileIssue(locate(path), f"{where}: expected {' or '.join(want)}, got {_type_name(error.instance)}")]
    if error.validator == "propertyNames":
        bad = error.instance
        return [ProfileIssue(locate(path), f"{where}: invalid name `{bad}`",
                             f"must match {error.validator_value.get('pattern', '')}" if isinstance(error.validator_value, dict) else None)]
    if error.validator == "pattern":
        return [ProfileIssue(locate(path), f"{where}: `{error.instance}` does not match the expected form",
                             schema.get("description") or f"pattern {error.validator_value}")]
    if error.validator == "oneOf":
        return [ProfileIssue(locate(path), f"{where}: `{error.instance}` is not valid here",
                             schema.get("description"))]
    return [ProfileIssue(locate(path), f"{where}: {error.message}")]
