"""YAML → plain data plus the position of every node.

Loading is kept apart from validating and resolving: this module only turns a file
into Python data and a ``positions`` map from a path (tuple of keys / indexes) to
the 1-based (line, column) where that node starts. Keys are reported at the key,
so "unknown key `servces`" points at the typo itself.

Guards: aliases are allowed (anchors are handy in profiles) but the expanded
document is capped at ``MAX_NODES`` nodes, so a "billion laughs" file is refused in
milliseconds instead of eating memory; duplicate keys are an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, ProfileError, ProfileIssue

MAX_NODES = 100_000
MAX_BYTES = 1_000_000

Path_ = tuple  # a path into the document: keys and list indexes


@dataclass
class LoadedYaml:
    """A parsed YAML mapping with the position of every node."""

    file: str
    data: dict[str, Any]
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: tuple) -> Location:
        """Where ``path`` is, or its closest ancestor that has a position."""
        path = tuple(path)
        while path not in self.positions and path:
            path = path[:-1]
        line, col = self.positions.get(path, (1, 1))
        return Location(self.file, line, col)


class _Builder:
    def __init__(self, file: str, loader: yaml.SafeLoader):
        self.file = file
        self.loader = loader
        self.positions: dict[tuple, tuple[int, int]] = {}
        self.count = 0
        self.issues: list[ProfileIssue] = []

    def _pos(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: tuple, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > 100:
            raise ProfileError(
                [ProfileIssue(Location(self.file, *self._pos(node)),
                              f"document too large after alias expansion (over {MAX_NODES} nodes)",
                              "is this an alias bomb? profiles are small files")])
        self.positions.setdefault(path, self._pos(node))
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    first = self.positions.get(path + (key,), (0, 0))[0]
                    self.issues.append(ProfileIssue(
                        Location(self.file, *self._pos(key_node)),
                        f"duplicate key `{key}` (first defined on line {first})"))
                    continue
                self.positions[path + (key,)] = self._pos(key_node)
                out[key] = self.build(value_node, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def load_yaml(path: Path, display: str | None = None) -> LoadedYaml:
    """Parse a YAML file whose top level must be a mapping."""
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError([ProfileIssue(Location(name), f"cannot read: {exc.strerror}")]) from exc
    if len(raw) > MAX_BYTES:
        raise ProfileError([ProfileIssue(Location(name), f"file too large ({len(raw)} bytes, limit {MAX_BYTES})")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_column(raw, exc.start)
        raise ProfileError([ProfileIssue(
            Location(name, line, column), f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "is this a binary file? profiles are YAML files in UTF-8")]) from None
    return load_yaml_text(text, name)


def _line_column(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    newline = "\n" if isinstance(text, str) else b"\n"
    before = text[:offset]
    return before.count(newline) + 1, offset - (before.rfind(newline) + 1) + 1


def load_yaml_text(text: str, name: str) -> LoadedYaml:
    try:
        # The reader checks every character up front: control characters (a binary
        # file) fail here, before there is any node to point at.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise ProfileError([ProfileIssue(
            Location(name, *_line_column(text, exc.position)),
            f"character #x{exc.character:04x} is not allowed in YAML",
            "is this a binary file? profiles are YAML text")]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise ProfileError([ProfileIssue(Location(name, 1, 1), "file is empty; a profile is a YAML mapping")])
        if not isinstance(root, yaml.MappingNode):
            kind = {yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}.get(type(root), "not a mapping")
            raise ProfileError([ProfileIssue(
                Location(name, root.start_mark.line + 1, root.start_mark.column + 1),
                f"top level is {kind}; a profile is a YAML mapping (key: value)")])
        builder = _Builder(name, loader)
        data = builder.build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        raise ProfileError([ProfileIssue(loc, f"YAML syntax error: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ProfileError([ProfileIssue(Location(name), f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if builder.issues:
        raise ProfileError(builder.issues)
    return LoadedYaml(name, data, builder.positions)


def display_path(path: Path) -> str:
    """A file's name as errors show it: relative to the working directory when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
