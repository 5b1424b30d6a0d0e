"""The last ``devenv verify`` result of each profile, kept under the cache directory.

``devenv verify`` records its report here (``<cache>/verify/<project>/<profile>.json``);
``devenv dash`` shows it. A record that cannot be written or read is simply
absent: verify's own exit code and output do not depend on it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .paths import cache_dir


def record_path(project: str, profile: str, root: Path | None = None) -> Path:
    return (root or cache_dir()) / "verify" / project / f"{profile}.json"


def summary(report: dict) -> dict:
    """Counts of a verify report (``VerifyReport.to_json()``) and its failed checks."""
    results = [r for s in report.get("services", {}).values() for r in s.get("results", [])]
    failed = [r for r in results if not r.get("ok")]
    return {"ok": bool(report.get("ok")), "checks": len(results), "failed": len(failed),
            "failures": [f"{r.get('service')}: {r.get('check')}" for r in failed][:20]}


def record(project: str, profile: str, report: dict, root: Path | None = None) -> Path | None:
    """Store ``report`` as the profile's last verify result (atomically); None when it could not be."""
    path = record_path(project, profile, root)
    data = {"profile": profile, "project": project, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **summary(report), "report": report}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError:
        return None
    return path


def load(project: str, profile: str, root: Path | None = None) -> dict | None:
    try:
        return json.loads(record_path(project, profile, root).read_text())
    except (OSError, ValueError):
        return None


__all__ = ["load", "record", "record_path", "summary"]
