"""``devenv dash``: a small local page with every running stack of the project.

A ``ThreadingHTTPServer`` on 127.0.0.1 serves two things: ``/api/state``, the
state as JSON (collected by ``collect_state``), and ``/``, one HTML page whose
script fetches that JSON every second and redraws: each stack, its services with
state, health and URLs, its data volumes with their sizes, its snapshots and its
last ``devenv verify`` result. A service that is not running, or not healthy,
turns red on the next refresh.

Stacks are found by the ``dev.devenv.profile`` label of their service containers,
among the project's profiles. Nothing here prints; the server logs nothing.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from . import lastverify, names
from .errors import DevenvError

REFRESH_SECONDS = 1.0
VOLUME_SIZES_TTL = 10.0   # the engine computes volume sizes by walking them: not on every poll


class DashError(DevenvError):
    """The page cannot be served (the port is taken, say)."""


@dataclass
class StateSource:
    """Where the page's state comes from: the engine, the project's profiles, the snapshot store."""

    engine: object
    project: str                                    # the project's name (verify records are kept by it)
    profiles: Callable[[], list[str]]               # the project's profile names
    describe: Callable[[str], dict] = lambda name: {}   # profile -> {"dataset": ..., "imageset": ...}
    snapshots: Callable[[str], list[dict]] = lambda name: []
    chosen: tuple[str, ...] = ()                    # only these profiles (shown even when not running)
    _sizes: dict = field(default_factory=dict)
    _sizes_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    _sizing: bool = False

    def volume_sizes(self) -> dict[str, int]:
        """Volume name -> bytes, as last measured; a stale measure is redone in the background
        (the engine walks every volume for it: a poll never waits on that)."""
        if time.monotonic() - self._sizes_at > VOLUME_SIZES_TTL and not self._sizing:
            self._sizing = True
            threading.Thread(target=self._measure, name="devenv-dash-sizes", daemon=True).start()
        return self._sizes

    def _measure(self) -> None:
        try:
            self._sizes = self.engine.volume_sizes()
        except Exception:   # sizes are a nicety: an engine that cannot say shows "?"
            pass
        finally:
            self._sizes_at = time.monotonic()
            self._sizing = False


def _running_instances(engine, project: str) -> list[tuple[str, str]]:
    """(profile, instance) of every stack of ``project`` that has service containers."""
    found = engine.list_containers([f"{names.MANAGED}=true", names.CONFIG_HASH, f"{names.PROJECT}={project}"])
    return sorted({(c.labels.get(names.PROFILE), c.labels.get(names.INSTANCE, names.DEFAULT_INSTANCE)) for c in found}
                  - {(None, names.DEFAULT_INSTANCE)}, key=lambda pi: (pi[0] or "", pi[1] != names.DEFAULT_INSTANCE, pi[1]))


def collect_state(source: StateSource) -> dict:
    """Everything the page shows, as one JSON-able document: every instance of the project."""
    from .engine.lifecycle import status
    with source._lock:   # one engine conversation at a time, whatever the number of open pages
        own = source.profiles()
        running = _running_instances(source.engine, source.project)
        wanted = ([(p, i) for p, i in running if p in source.chosen] or [(p, names.DEFAULT_INSTANCE)
                                                                          for p in source.chosen]) \
            if source.chosen else [(p, i) for p, i in running if p in own]
        sizes = source.volume_sizes()
        stacks = []
        for profile, instance in wanted:
            scope = names.Scope(source.project, profile, instance)
            services = [row.as_dict() | {"status": _status(row.state, row.health)}
                        for row in status(source.engine, scope)]
            vols = source.engine.list_volumes(scope.filters())
            volumes = [{"name": v.name, "volume": v.labels.get(names.VOLUME, v.name), "bytes": sizes.get(v.name, -1)}
                       for v in sorted(vols, key=lambda v: v.name)]
            verify = lastverify.load(source.project, profile) if scope.is_default else None
            if verify:
                verify.pop("report", None)
            stacks.append({"profile": profile if scope.is_default else f"{profile} --name {instance}",
                           "instance": instance, "running": bool(services), "services": services,
                           "volumes": volumes, "data": source.describe(profile),
                           "snapshots": source.snapshots(profile), "verify": verify})
        return {"project": source.project, "at": time.strftime("%H:%M:%S"), "stacks": stacks,
                "profiles": own}


def _status(state: str, health: str) -> str:
    """ok (green), starting (amber) or bad (red)."""
    if state != "running":
        return "bad"
    if health in ("healthy", "no healthcheck"):
        return "ok"
    return "starting" if health == "starting" else "bad"


class DashServer:
    """The page and its JSON on 127.0.0.1, served from a background thread."""

    def __init__(self, state: Callable[[], dict], port: int = 0, host: str = "127.0.0.1",
                 refresh: float = REFRESH_SECONDS, title: str = "devenv"):
        page = PAGE.replace("__REFRESH_MS__", str(int(refresh * 1000))).replace("__TITLE__", _html(title))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):   # noqa: N802 (http.server's name)
                if self.path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", page.encode())
                elif self.path == "/api/state":
                    try:
                        body = state()
                    except Exception as exc:   # shown on the page; the server keeps serving
                        body = {"error": f"{type(exc).__name__}: {exc}", "stacks": []}
                    self._send(200, "application/json", json.dumps(body).encode())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, kind: str, data: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):   # the library never prints
                pass

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise DashError(f"cannot serve the page on {host}:{port}: {exc.strerror or exc}",
                            "Choose another port (--port N, or --port 0 for any free one).") from None
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="devenv-dash", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "DashServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
 h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.1em;margin:0 0 .4em}
 .meta{color:#777;font-size:.9em;margin-bottom:1em}
 section.stack{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;margin:0 0 1em}
 table{border-collapse:collapse;width:100%;margin:.3em 0 .8em} th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eee}
 th{font-weight:600;color:#555;font-size:.9em}
 .health{font-weight:600;border-radius:4px;padding:.1em .5em;color:#fff}
 .status-ok{background:#2e7d32} .status-starting{background:#f9a825} .status-bad{background:#d32f2f}
 .verify-ok{color:#2e7d32;font-weight:600} .verify-failed{color:#d32f2f;font-weight:600}
 .error{color:#d32f2f;font-weight:600} .none{color:#999}
</style></head>
<body>
<h1>__TITLE__</h1>
<div class="meta">updated <span id="updated" data-count="0">never</span> · refreshes every __REFRESH_MS__ ms</div>
<div id="error" class="error"></div>
<div id="stacks"></div>
<script>
"use strict";
const REFRESH_MS = __REFRESH_MS__;
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function size(bytes) {
  if (bytes == null || bytes < 0) return "?";
  const units = ["B", "kB", "MB", "GB", "TB"]; let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
  return (i ? bytes.toFixed(1) : bytes) + " " + units[i];
}
function table(headers, rows) {
  return el("table", {}, el("tr", {}, ...headers.map(h => el("th", {}, h))), ...rows);
}
function links(urls) {
  const td = el("td", {});
  (urls || []).forEach((u, i) => { if (i) td.append(" ");
    td.append(u.startsWith("http") ? el("a", {href: u}, u) : el("code", {}, u)); });
  return td;
}
function stackView(s) {
  const sec = el("section", {class: "stack", "data-profile": s.profile});
  sec.append(el("h2", {}, s.profile + (s.running ? "" : " (not running)")));
  const d = s.data || {};
  if (d.dataset || d.imageset) sec.append(el("div", {class: "meta"},
      [d.dataset ? "dataset " + d.dataset : "", d.imageset ? d.imageset + " images" : ""].filter(Boolean).join(" · ")));
  sec.append(table(["service", "state", "health", "image", "URLs"], s.services.map(v =>
    el("tr", {class: "service", "data-service": v.service, "data-state": v.state, "data-health": v.health,
              "data-status": v.status},
       el("td", {}, v.service), el("td", {}, v.state),
       el("td", {}, el("span", {class: "health status-" + v.status}, v.state === "running" ? v.health : "stopped")),
       el("td", {}, el("code", {}, v.image)), links(v.urls)))));
  sec.append(el("h3", {}, "data volumes"));
  sec.append(s.volumes.length ? table(["volume", "engine volume", "size"], s.volumes.map(v =>
    el("tr", {class: "volume", "data-volume": v.volume}, el("td", {}, v.volume), el("td", {}, el("code", {}, v.name)),
       el("td", {}, size(v.bytes))))) : el("div", {class: "none"}, "none"));
  sec.append(el("h3", {}, "snapshots"));
  sec.append(s.snapshots.length ? table(["snapshot", "taken", "dataset", "datadir", "archive"], s.snapshots.map(n =>
    el("tr", {class: "snapshot", "data-snapshot": n.name}, el("td", {}, n.name), el("td", {}, n.created),
       el("td", {}, n.dataset || "-"), el("td", {}, size(n.datadir_bytes)), el("td", {}, size(n.archive_bytes)))))
    : el("div", {class: "none"}, "none"));
  sec.append(el("h3", {}, "last verify"));
  const v = s.verify;
  sec.append(v ? el("div", {class: "verify " + (v.ok ? "verify-ok" : "verify-failed"), "data-ok": String(v.ok)},
      (v.ok ? "passed: " : "FAILED: ") + (v.checks - v.failed) + "/" + v.checks + " checks at " + v.at +
      (v.failures && v.failures.length ? " (" + v.failures.join(", ") + ")" : ""))
    : el("div", {class: "none verify", "data-ok": "none"}, "never run (devenv verify " + s.profile + ")"));
  return sec;
}
async function refresh() {
  try {
    const r = await fetch("/api/state", {cache: "no-store"});
    const state = await r.json();
    document.getElementById("error").textContent = state.error || "";
    const stacks = document.getElementById("stacks");
    stacks.replaceChildren(...(state.stacks.length ? state.stacks.map(stackView)
      : [el("div", {class: "none"}, "no stack of project " + state.project + " is running (devenv up)")]));
    const u = document.getElementById("updated");
    u.textContent = state.at; u.dataset.count = String(Number(u.dataset.count) + 1);
  } catch (e) {
    document.getElementById("error").textContent = "devenv dash is not answering: " + e;
  }
  setTimeout(refresh, REFRESH_MS);
}
refresh();
</script>
</body></html>
"""


__all__ = ["DashError", "DashServer", "StateSource", "collect_state"]
