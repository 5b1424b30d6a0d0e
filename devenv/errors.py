"""Typed errors. The core raises only these; ``devenv.cli`` alone prints and exits.

Each error knows its exit code: 2 for user errors (bad input, unreachable engine,
unknown names), 1 for "the thing you asked for ran and failed" (a service that
turned unhealthy, a failed build step).
"""

from __future__ import annotations

from dataclasses import dataclass


class DevenvError(Exception):
    """Base of every error devenv reports to a user."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        """The paragraph the CLI prints."""
        text = self.message
        if self.hint:
            text += f"\n{self.hint}"
        return text


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file: 1-based line and column (0 when unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class ProfileIssue:
    """One problem in one profile file."""

    location: Location
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ProfileError(DevenvError):
    """A profile is invalid. Carries every issue found, not just the first."""

    def __init__(self, issues: list[ProfileIssue], summary: str | None = None):
        self.issues = sorted(issues, key=lambda i: i.location)
        count = len(self.issues)
        head = summary or (f"invalid profile: {count} error" + ("s" if count != 1 else ""))
        super().__init__(head + "\n" + "\n".join(f"  {i}" for i in self.issues))


class ProfileNotFoundError(DevenvError):
    """No profile of that name in the profiles directory."""


class ExtendsCycleError(DevenvError):
    """``extends`` loops back on itself; carries the whole chain."""

    def __init__(self, chain: list[str], location: Location):
        self.chain = chain
        super().__init__(
            f"{location}: extends cycle: {' -> '.join(chain)}",
            "A profile cannot (indirectly) extend itself; break the chain.",
        )


class TemplateError(DevenvError):
    """A Jinja2 template failed to render (undefined variable, syntax error)."""

    def __init__(self, template: str, line: int | None, message: str, service: str | None = None):
        self.template = template
        self.line = line
        where = f"{template}:{line}" if line else template
        who = f" (service {service})" if service else ""
        super().__init__(f"{where}: template error{who}: {message}")


class EngineUnreachableError(DevenvError):
    """The Docker Engine does not answer."""

    LOCAL_HINT = ("Start it (e.g. `systemctl start docker`, or `dockerd &` as root; "
                  "`scripts/engine.sh` does both install and start) or point DOCKER_HOST at a running engine.")
    REMOTE_HINT = ("Check the address and that an engine listens there (`docker -H URL version` asks the same), "
                   "or choose another engine with --engine URL, $DOCKER_HOST or `docker context use`.")

    def __init__(self, url: str, detail: str, hint: str | None = None, source: str | None = None):
        self.url = url
        self.detail = detail
        chosen = f" (chosen by {source})" if source else ""
        super().__init__(f"Cannot reach the Docker Engine at {url}{chosen}: {detail}",
                         hint or (self.LOCAL_HINT if url.startswith("unix://") else self.REMOTE_HINT))


class EngineTLSError(EngineUnreachableError):
    """The TLS material for a tcp:// engine is missing, unreadable or does not match the engine."""

    def __init__(self, url: str, detail: str, source: str | None = None, cert_path: str | None = None):
        where = f" in {cert_path}" if cert_path else ""
        super().__init__(url, detail, source=source, hint=(
            f"devenv uses the TLS files (ca.pem, cert.pem, key.pem){where} that the Docker CLI would: "
            "$DOCKER_CERT_PATH (default ~/.docker) with $DOCKER_TLS_VERIFY, or the Docker context's TLS material. "
            "Point them at the engine's CA and a client certificate it trusts."))


class EngineHostKeyError(EngineUnreachableError):
    """An ssh:// engine's host key is unknown or differs from the one in known_hosts."""

    def __init__(self, url: str, detail: str, source: str | None = None):
        super().__init__(url, detail, source=source, hint=(
            "devenv checks the host key against ~/.ssh/known_hosts and never accepts an unknown or changed key. "
            "If the host really changed, check its new key out of band, then `ssh-keygen -R HOST` and "
            "`ssh HOST true` once to record it."))


class EngineConfigError(DevenvError):
    """The engine to use is named badly: not an engine URL, or a Docker context that does not exist."""


class BuildError(DevenvError):
    """An image build failed."""

    exit_code = 1

    def __init__(self, image: str, message: str, log_tail: list[str] | None = None):
        self.image = image
        self.log_tail = log_tail or []
        text = f"building {image} failed: {message}"
        if self.log_tail:
            text += "\n  last build output:\n" + "\n".join(f"    {line}" for line in self.log_tail)
        super().__init__(text)


class PackagePinError(DevenvError):
    """A pinned package version is not in the archive."""

    def __init__(self, service: str, package: str, pinned: str, available: list[str]):
        self.package = package
        self.pinned = pinned
        self.available = available
        have = ", ".join(available) if available else "none (no such package)"
        super().__init__(
            f"service {service}: package {package} is pinned to {pinned}, "
            f"which the archive does not have. Available: {have}",
            "Update the pin in the profile (production has probably moved on too: run `devenv drift`).",
        )


class PortConflictError(DevenvError):
    """A port to publish is already taken on the host."""

    def __init__(self, host_ip: str, port: int, service: str, holder: str | None):
        by = f" by container {holder}" if holder else " by another process"
        super().__init__(
            f"service {service}: port {host_ip}:{port} is already taken{by}",
            "Stop whatever holds it, or change the port in the profile.",
        )


class NotOwnerError(DevenvError):
    """An instance someone else made: removing it needs --force (Docker engines and Kubernetes alike)."""

    @classmethod
    def refusing(cls, instance: str, owner: str, me: str, force_command: str) -> "NotOwnerError":
        return cls(f"{instance} belongs to {owner}, not to {me}: it was not removed",
                   f"It may be a shared instance others use. `{force_command}` removes it anyway; "
                   "`devenv ls` shows who runs what.")


class ExposeError(DevenvError):
    """``--expose ADDR`` names no address the instance's ports can be bound on."""

    def __init__(self, value: str, why: str):
        self.value, self.why = value, why
        super().__init__(
            f"--expose {value}: {why}",
            "--expose takes an IP address of the engine's host, v4 or v6 (0.0.0.0: all of its interfaces; "
            "127.0.0.1: back to loopback only), not a host name.")


class PortConflictsError(DevenvError):
    """Host ports of a stack are taken: every conflict at once, before anything started."""

    def __init__(self, conflicts: list[PortConflictError]):
        self.conflicts = conflicts
        if len(conflicts) == 1:
            super().__init__(conflicts[0].message + "; nothing was started", conflicts[0].hint)
            return
        super().__init__(f"{len(conflicts)} host ports are already taken; nothing was started:\n"
                         + "\n".join(f"  {c.message}" for c in conflicts),
                         "Stop whatever holds them, or change the ports in the profile.")


class HealthCheckFailed(DevenvError):
    """A service became unhealthy or exited while we waited for it."""

    exit_code = 1

    def __init__(self, service: str, container: str, reason: str, log_tail: list[str]):
        self.service = service
        self.log_tail = log_tail
        text = f"service {service} ({container}) {reason}"
        if log_tail:
            text += f"\n  last {len(log_tail)} log lines:\n" + "\n".join(f"    {line}" for line in log_tail)
        super().__init__(text)


class HealthTimeout(DevenvError):
    """A service was still starting when --timeout ran out."""

    exit_code = 1


class NotFoundError(DevenvError):
    """A named thing (service, container, environment) does not exist."""


class Interrupted(DevenvError):
    """Ctrl-C during a command that can be resumed."""

    exit_code = 130


class OutputPathError(DevenvError):
    """An output file or directory cannot be written (read-only, below a file, under /proc)."""


class EngineError(DevenvError):
    """The Docker Engine refused a request; carries the Engine's own explanation.

    4xx answers (no such object, conflict, bad parameter) are exit 2; 5xx answers
    (the Engine tried and failed, e.g. a port it could not bind) are exit 1.
    """

    def __init__(self, explanation: str, status: int | None = None, request: str | None = None,
                 doing: str | None = None, hint: str | None = None):
        self.explanation = explanation
        self.status = status
        self.request = request
        self.exit_code = 1 if status is not None and status >= 500 else 2
        what = f"{doing}: " if doing else ""
        where = f" ({status} on {request})" if status and request else f" ({status})" if status else ""
        super().__init__(f"{what}the Docker Engine refused: {explanation}{where}", hint)

    @classmethod
    def from_api_error(cls, exc, doing: str | None = None, hint: str | None = None) -> "EngineError":
        """From a ``docker.errors.APIError`` (read by its attributes: this module imports no SDK)."""
        explanation = getattr(exc, "explanation", None) or str(exc)
        if isinstance(explanation, bytes):
            explanation = explanation.decode("utf-8", errors="replace")
        status = getattr(exc, "status_code", None)
        request = None
        req = getattr(getattr(exc, "response", None), "request", None)
        if req is not None and getattr(req, "method", None) and getattr(req, "path_url", None):
            request = f"{req.method} {req.path_url}"
        return cls(str(explanation).strip(), status, request, doing, hint)


class RemoteMountError(DevenvError):
    """A profile mounts working-tree paths, and the engine cannot see this machine's files."""

    def __init__(self, engine_url: str, mounts: list[tuple[str, str, str]]):
        listed = "; ".join(f"service {svc}: {target} <- {source}" for svc, target, source in mounts)
        super().__init__(
            f"the engine at {engine_url} is not on this machine, so it cannot mount the working tree: {listed}",
            "Source mounts (`mounts:`) work on a local engine only. On a remote engine use a profile "
            "without mounts (the production declaration, e.g. `base`): its images carry the code.")
