"""The merge rules of ``extends``.

- mappings merge key by key, recursively;
- lists (ports, depends_on, healthcheck.test, ...) and scalars in the child replace
  the parent's value whole;
- a key set to ``null`` in the child removes that key from the result.
"""

from __future__ import annotations

import copy
from typing import Any


def merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """The child profile's mapping laid over its parent's. Inputs are not modified."""
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = _strip_nulls(copy.deepcopy(value))
    return out


def _strip_nulls(value: Any) -> Any:
    """A null inside a mapping that has nothing to override still means "absent"."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value
