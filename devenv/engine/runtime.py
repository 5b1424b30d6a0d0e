"""What devenv asks of a container platform, as one interface: ``Runtime``.

Outside ``devenv.engine`` nothing imports the Docker SDK or touches an engine's
``.api`` (the ``docker.APIClient``): the rest of devenv calls these methods of the
``Engine`` it is handed (tests/unit/test_runtime_seam.py enforces it). The Docker
Engine is the first runtime: ``DockerRuntime`` implements the protocol over the
SDK, and ``Engine`` (devenv.engine.client) is one. Everything goes through the
engine's API, never through this machine's filesystem, so each method works the
same on a remote engine.

Errors: a refused request raises ``EngineError`` (devenv.errors, the engine's own
explanation), an absent object ``NoSuchObject`` (an EngineError); ``ENGINE_FAILURES``
is what a caller catches around the engine's internals (lifecycle etc.), which may
still let the SDK's own error through.
"""

from __future__ import annotations

import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, ContextManager, Iterable, Iterator, Protocol, runtime_checkable

import docker.errors

from ..errors import DevenvError, EngineError

CHUNK = 1 << 20

#: what a call into devenv.engine may raise when the engine refuses (the typed error, or the
#: SDK's from modules that have not translated it yet)
ENGINE_FAILURES: tuple[type[BaseException], ...] = (DevenvError, docker.errors.APIError)


class NoSuchObject(EngineError):
    """The engine has no such container, image or volume (its 404)."""


def known_engine_error(exc: BaseException) -> DevenvError | None:
    """The typed error for an SDK error that escaped untranslated (the CLI's last line of defence)."""
    if isinstance(exc, docker.errors.APIError):
        return EngineError.from_api_error(exc)
    return None


@contextmanager
def _refused(doing: str) -> Iterator[None]:
    try:
        yield
    except docker.errors.NotFound as exc:
        raise NoSuchObject.from_api_error(exc, doing) from None
    except docker.errors.APIError as exc:
        raise EngineError.from_api_error(exc, doing) from None


# -- what the runtime answers with ---------------------------------------------------------------

@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int


@dataclass(frozen=True)
class Mount:
    destination: str   # the path in the container
    type: str          # bind | volume | tmpfs
    source: str        # the host path of a bind, the volume's data path
    writable: bool


@dataclass(frozen=True)
class ContainerState:
    id: str
    status: str                        # created | running | exited | ...
    running: bool
    exit_code: int | None
    image_id: str
    image: str                         # the reference it was created from
    mounts: tuple[Mount, ...] = ()
    ports: dict[str, int] = field(default_factory=dict)   # "3306/tcp" -> host port published
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerSummary:
    id: str
    name: str
    state: str
    labels: dict[str, str]


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    labels: dict[str, str]


class ArchiveStream(Protocol):
    def chunks(self) -> Iterator[bytes]: ...

    def abort(self) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    """What devenv asks of a container platform (besides what devenv.engine does inside)."""

    url: str
    is_local: bool   # shares this machine's filesystem and loopback (devenv.engine.client)

    # images
    def image(self, ref: str) -> ImageInfo | None: ...
    def tag_image(self, source: str, repository: str, tag: str) -> None: ...
    def remove_image(self, ref: str) -> None: ...
    def push_image(self, repository: str, tag: str, auth: dict | None = None) -> Iterator[dict]: ...
    def pull_image(self, repository: str, tag: str, auth: dict | None = None) -> Iterator[dict]: ...

    # containers
    def container(self, ref: str) -> ContainerState | None: ...
    def list_containers(self, labels: list[str], all: bool = True) -> list[ContainerSummary]: ...
    def create_container(self, image: str, *, name: str, labels: dict[str, str], **options) -> str: ...
    def start(self, ref: str) -> None: ...
    def start_within(self, ref: str, seconds: float) -> bool: ...
    def stop(self, ref: str, timeout: float) -> None: ...
    def remove_container(self, ref: str, *, volumes: bool = False) -> None: ...
    def logs(self, ref: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]: ...
    def exec_output(self, ref: str, command: list[str], *, environment: dict[str, str] | None = None,
                    workdir: str | None = None, user: str = "") -> tuple[int, bytes]: ...
    def exec_stream(self, ref: str, command: list[str], stdout: BinaryIO, stderr: BinaryIO,
                    user: str = "") -> int: ...
    def port_forward(self, ref: str, port: int) -> ContextManager[tuple[str, int]]: ...

    # files of a container (and so of the volumes mounted in it), as tar streams
    def read_file(self, ref: str, path: str) -> bytes | None: ...
    def archive_stream(self, ref: str, path: str) -> ArchiveStream: ...
    def put_archive(self, ref: str, path: str, data: bytes | Iterable[bytes]) -> None: ...

    # volumes, the engine itself, testinfra
    def list_volumes(self, labels: list[str]) -> list[VolumeInfo]: ...
    def volume_sizes(self) -> dict[str, int]: ...
    def engine_id(self) -> str: ...
    def testinfra_spec(self, ref: str, user: str | None = None) -> str: ...


# -- the Docker Engine's implementation ----------------------------------------------------------

class DockerRuntime:
    """``Runtime`` over the Docker SDK; mixed into ``Engine``, whose ``api`` is the APIClient."""

    api: docker.APIClient

    # images

    def image(self, ref: str) -> ImageInfo | None:
        try:
            info = self.api.inspect_image(ref)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError.from_api_error(exc, f"inspect image {ref}") from None
        return ImageInfo(info["Id"], int(info.get("Size") or 0))

    def tag_image(self, source: str, repository: str, tag: str) -> None:
        with _refused(f"tag {source} as {repository}:{tag}"):
            self.api.tag(source, repository, tag, force=True)

    def remove_image(self, ref: str) -> None:
        """Remove the reference ``ref`` (its layers stay while another reference holds them); absent is fine."""
        try:
            self.api.remove_image(ref, noprune=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise EngineError.from_api_error(exc, f"remove image {ref}") from None

    def push_image(self, repository: str, tag: str, auth: dict | None = None) -> Iterator[dict]:
        """The engine's progress events of the push (an ``error`` event is a failed push)."""
        with _refused(f"push {repository}:{tag}"):
            yield from self.api.push(repository, tag, stream=True, decode=True, auth_config=auth)

    def pull_image(self, repository: str, tag: str, auth: dict | None = None) -> Iterator[dict]:
        """The engine's progress events of the pull; ``tag`` may be a digest (sha256:...)."""
        with _refused(f"pull {repository}:{tag}"):
            yield from self.api.pull(repository, tag=tag, stream=True, decode=True, auth_config=auth)

    # containers

    def container(self, ref: str) -> ContainerState | None:
        """The state of container ``ref`` (name or id), None when there is none."""
        try:
            info = self.api.inspect_container(ref)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError.from_api_error(exc, f"inspect container {ref}") from None
        state = info.get("State") or {}
        config = info.get("Config") or {}
        ports = {}
        for port, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
            host_port = next((b.get("HostPort") for b in bindings or [] if b.get("HostPort")), None)
            if host_port:
                ports[port] = int(host_port)
        mounts = tuple(Mount(m.get("Destination", ""), m.get("Type", ""), m.get("Source", ""), bool(m.get("RW")))
                       for m in info.get("Mounts") or [])
        return ContainerState(id=info.get("Id", ""), status=state.get("Status", "unknown"),
                              running=bool(state.get("Running")), exit_code=state.get("ExitCode"),
                              image_id=info.get("Image", ""), image=config.get("Image", ""), mounts=mounts,
                              ports=ports, labels=dict(config.get("Labels") or {}))

    def list_containers(self, labels: list[str], all: bool = True) -> list[ContainerSummary]:
        """Containers carrying every label of ``labels`` (``KEY`` or ``KEY=VALUE``)."""
        with _refused("list containers"):
            found = self.api.containers(all=all, filters={"label": list(labels)})
        return [ContainerSummary(c["Id"], (c.get("Names") or [c["Id"][:12]])[0].lstrip("/"), c.get("State", ""),
                                 dict(c.get("Labels") or {})) for c in found]

    def create_container(self, image: str, *, name: str, labels: dict[str, str],
                         environment: dict[str, str] | None = None, command: list[str] | None = None,
                         entrypoint: list[str] | None = None, user: str | None = None,
                         hostname: str | None = None, network: bool = True,
                         publish: dict[str, str] | None = None) -> str:
        """A created (not started) container; its id. ``publish``: container port ("3306/tcp")
        -> host address the engine publishes it on, at a port it picks; ``network=False``:
        no network at all."""
        host_config = self.api.create_host_config(
            **({"network_mode": "none"} if not network else {}),
            **({"port_bindings": {p: (ip,) for p, ip in publish.items()}} if publish else {}))
        with _refused(f"create container {name} of {image}"):
            return self.api.create_container(
                image=image, name=name, labels=labels, environment=environment, command=command,
                entrypoint=entrypoint, user=user, hostname=hostname, network_disabled=not network,
                ports=list(publish) if publish else None, host_config=host_config)["Id"]

    def start(self, ref: str) -> None:
        with _refused(f"start container {ref}"):
            self.api.start(ref)

    def start_within(self, ref: str, seconds: float) -> bool:
        """Start ``ref`` again within ``seconds`` (a stop in progress may delay it); True when it runs.

        Every request in that time has a short timeout: this runs when devenv is
        being interrupted and must not hang on an engine still busy with the container."""
        import time
        deadline = time.monotonic() + seconds
        old_timeout = self.api.timeout
        self.api.timeout = max(seconds, 0.5)
        try:
            while True:
                try:
                    self.api.start(ref)
                    if self.api.inspect_container(ref)["State"]["Running"]:
                        return True
                except Exception:  # noqa: BLE001 - an engine still busy with the container: try again
                    pass
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
        finally:
            self.api.timeout = old_timeout

    def stop(self, ref: str, timeout: float) -> None:
        with _refused(f"stop container {ref}"):
            self.api.stop(ref, timeout=timeout)

    def remove_container(self, ref: str, *, volumes: bool = False) -> None:
        """Remove ``ref``, running or not (``volumes``: its anonymous volumes too); absent is fine."""
        try:
            self.api.remove_container(ref, force=True, v=volumes)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise EngineError.from_api_error(exc, f"remove container {ref}") from None

    def logs(self, ref: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        """The container's output (stdout and stderr as they came), in chunks."""
        with _refused(f"logs of {ref}"):
            yield from self.api.logs(ref, stream=True, follow=follow, tail="all" if tail is None else tail)

    def exec_output(self, ref: str, command: list[str], *, environment: dict[str, str] | None = None,
                    workdir: str | None = None, user: str = "") -> tuple[int, bytes]:
        """Run ``command`` in ``ref``; its exit code (126: none) and its output, stdout and stderr
        interleaved as they came."""
        with _refused(f"exec in {ref}"):
            exec_id = self.api.exec_create(ref, command, stdout=True, stderr=True, environment=environment,
                                           workdir=workdir, user=user)["Id"]
            out = b"".join(self.api.exec_start(exec_id, stream=True))
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        return (126 if code is None else int(code)), out

    def exec_stream(self, ref: str, command: list[str], stdout: BinaryIO, stderr: BinaryIO, user: str = "") -> int:
        """Run ``command`` in ``ref``, its stdout and stderr streamed to those files; its exit code."""
        exec_id = self.api.exec_create(ref, command, stdout=True, stderr=True, user=user)["Id"]
        for out, err in self.api.exec_start(exec_id, stream=True, demux=True):
            if out:
                stdout.write(out)
                stdout.flush()
            if err:
                stderr.write(err)
                stderr.flush()
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        return 126 if code is None else int(code)

    def port_forward(self, ref: str, port: int) -> ContextManager[tuple[str, int]]:
        """``(host, port)`` on this machine's loopback reaching TCP ``port`` of running container
        ``ref`` through the engine's API (an exec per connection; nothing is published), while
        the context lasts. See devenv.engine.portforward."""
        from .portforward import forward
        return forward(self.api, ref, port)

    # files of a container

    def read_file(self, ref: str, path: str) -> bytes | None:
        """The content of file ``path`` of container ``ref`` (running or not), None when there is none.
        Through the archive API: no shell or ``cat`` needed in the image."""
        import io
        import tarfile
        try:
            stream, _ = self.api.get_archive(ref, path)
        except docker.errors.NotFound:
            return None
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            for member in tar:
                if member.isfile():
                    f = tar.extractfile(member)
                    return f.read() if f else None
        return None

    def archive_stream(self, ref: str, path: str) -> ArchiveStream:
        """The tar stream of ``path`` of ``ref`` (a volume mounted there is read through it), as
        a response that another thread can cut off (``abort``)."""
        with _refused(f"read {ref}:{path}"):
            return _DockerArchiveStream(self.api, ref, path)

    def put_archive(self, ref: str, path: str, data: bytes | Iterable[bytes] | BinaryIO) -> None:
        """Unpack the tar stream ``data`` at ``path`` of ``ref`` (created or running). Streamed:
        an iterable of chunks is sent as it is read."""
        with _refused(f"write {ref}:{path}"):
            if not self.api.put_archive(ref, path, data):
                raise EngineError(f"the engine did not unpack the archive at {ref}:{path}")

    # volumes, the engine, testinfra

    def list_volumes(self, labels: list[str]) -> list[VolumeInfo]:
        with _refused("list volumes"):
            found = self.api.volumes(filters={"label": list(labels)}).get("Volumes") or []
        return [VolumeInfo(v["Name"], dict(v.get("Labels") or {})) for v in found]

    def volume_sizes(self) -> dict[str, int]:
        """Volume name -> bytes (-1: the engine does not say); the engine walks every volume for it."""
        with _refused("disk usage"):
            df = self.api.df()
        return {v["Name"]: (v.get("UsageData") or {}).get("Size", -1) for v in df.get("Volumes") or []}

    def engine_id(self) -> str:
        """What tells this engine from another (its ID; its URL when it does not say)."""
        try:
            return str(self.api.info().get("ID") or self.api.base_url)
        except docker.errors.APIError:
            return str(self.api.base_url)

    def testinfra_spec(self, ref: str, user: str | None = None) -> str:
        """The testinfra host of container ``ref``: its docker backend (``docker exec``; the CLI
        sets $DOCKER_HOST to the engine it uses, so that reaches a remote engine too)."""
        return f"docker://{user + '@' if user else ''}{ref}"


class _DockerArchiveStream:
    """The Engine's archive of one path, as a response that another thread can cut off."""

    def __init__(self, api, container: str, path: str):
        self.api = api
        self.response = api._get(api._url("/containers/{0}/archive", container), params={"path": path},
                                 stream=True, headers={"Accept-Encoding": "identity"})
        api._raise_for_status(self.response)

    def chunks(self) -> Iterator[bytes]:
        return self.response.iter_content(CHUNK, False)

    def abort(self) -> None:
        """Unblock a reader and let the Engine see the connection go (it releases the container)."""
        try:
            sock = self.api._get_raw_response_socket(self.response)
            getattr(sock, "_sock", sock).shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError, docker.errors.APIError):
            pass
        try:
            self.response.close()
        except Exception:  # noqa: BLE001 - closing a cut-off stream may fail in many ways; it is closed
            pass
