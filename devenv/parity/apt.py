"""apt's version matching, as the image build's pin check applies it (see images/README.md).

* a pin ending in ``*`` is a literal prefix: ``1:10.11.*`` matches ``1:10.11.19-0+deb12u1``
  (the epoch is part of the version; a ``*`` elsewhere in such a pin is literal);
* any other pin matches exactly or as an fnmatch glob: ``1:10.*.18-0+deb12u1``;
* matching is case-insensitive; ``None`` (``"*"`` in a profile) matches any version.
"""

from __future__ import annotations

import fnmatch


def version_matches(pin: str | None, version: str) -> bool:
    if pin is None or pin == "*":
        return True
    p, v = pin.lower(), version.lower()
    if p.endswith("*"):
        return v.startswith(p[:-1])
    return v == p or fnmatch.fnmatchcase(v, p)
