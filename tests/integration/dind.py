"""A Docker-in-Docker engine for the remote-engine tests: a "remote" machine whose
filesystem is not this one's.

The image is devenv's own Debian base image plus Debian's ``docker.io`` and
``openssh-server``. The container runs with the flags that work on this machine
(``--privileged`` is refused here: the machine lacks CAP_SYS_RESOURCE), the inner
dockerd on overlay2 with /var/lib/docker on a volume, its API on a tcp port and
sshd on another, both published on 127.0.0.1 only. Everything is labelled with
the test session's label, so the session's cleanup by label removes it.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker

API_PORT = 2375
TLS_PORT = 2376   # socat: TLS with client certificates in front of API_PORT
SSH_PORT = 22

DOCKERFILE = """\
FROM {base}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      docker.io openssh-server iptables ca-certificates curl socat \\
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
COPY start /usr/local/bin/devenv-dind-start
CMD ["/usr/local/bin/devenv-dind-start"]
"""

# Host keys are made per container (not baked into the image), so a test can check
# that ssh refuses a host whose key changed.
START = """\
#!/bin/sh
set -e
ssh-keygen -A
mkdir -p /run/sshd /root/.ssh
chmod 700 /root/.ssh
/usr/sbin/sshd -o PasswordAuthentication=no -o PermitRootLogin=prohibit-password
exec dockerd --host unix:///var/run/docker.sock --host tcp://0.0.0.0:{api_port} \\
     --storage-driver overlay2 --tls=false
"""

# exactly the flags of issue 14 (what works on this machine instead of --privileged);
# `--security-opt systempaths=unconfined` is a CLI option: in the API it is empty
# MaskedPaths and ReadonlyPaths (what the CLI sends for it)
HOST_CONFIG = dict(
    cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
    security_opt=["seccomp=unconfined", "apparmor=unconfined"],
    cgroupns="host",
)
SYSTEMPATHS_UNCONFINED = {"MaskedPaths": [], "ReadonlyPaths": []}


@dataclass
class Dind:
    container: str
    api_port: int     # on 127.0.0.1 of this machine
    ssh_port: int     # on 127.0.0.1 of this machine
    tls_port: int     # on 127.0.0.1 of this machine, once start_tls ran

    @property
    def tls_url(self) -> str:
        return f"tcp://127.0.0.1:{self.tls_port}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.api_port}"

    @property
    def ssh_url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.ssh_port}"


def _context(base: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text, mode in (("Dockerfile", DOCKERFILE.format(base=base), 0o644),
                                 ("start", START.format(api_port=API_PORT), 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def build_image(client: docker.DockerClient, base: str, labels: dict[str, str]) -> str:
    """The DinD image on the local engine, tagged by what went into it."""
    import hashlib
    tag = "devenv-test/dind:" + hashlib.sha256((base + DOCKERFILE + START).encode()).hexdigest()[:12]
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    log = []
    for chunk in client.api.build(fileobj=_context(base), custom_context=True, tag=tag, rm=True,
                                  forcerm=True, labels=labels, decode=True):
        if "stream" in chunk:
            log.append(chunk["stream"])
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error']}\n{''.join(log[-20:])}")
    return tag


def start(client: docker.DockerClient, image: str, name: str, labels: dict[str, str],
          authorized_key: str, timeout: float = 120) -> Dind:
    """Run the DinD container and wait until its inner engine answers over tcp."""
    volume = client.volumes.create(f"{name}-var-lib-docker", labels=labels)
    api = client.api
    host_config = api.create_host_config(
        binds={volume.name: {"bind": "/var/lib/docker", "mode": "rw"},
               "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        port_bindings={API_PORT: ("127.0.0.1", None), TLS_PORT: ("127.0.0.1", None), SSH_PORT: ("127.0.0.1", None)},
        **HOST_CONFIG) | SYSTEMPATHS_UNCONFINED
    config = api.create_container_config(image, None, labels=labels, host_config=host_config,
                                         ports=[API_PORT, TLS_PORT, SSH_PORT], detach=True)
    cid = api.create_container_from_config(config, name)["Id"]
    api.start(cid)
    c = client.containers.get(cid)
    ports = c.attrs["NetworkSettings"]["Ports"]
    dind = Dind(c.name, int(ports[f"{API_PORT}/tcp"][0]["HostPort"]), int(ports[f"{SSH_PORT}/tcp"][0]["HostPort"]),
                int(ports[f"{TLS_PORT}/tcp"][0]["HostPort"]))
    put_file(c, "/root/.ssh/authorized_keys", authorized_key.encode(), 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            inner = docker.DockerClient(base_url=dind.tcp_url, timeout=30)
            inner.ping()
            break
        except Exception:
            c.reload()
            if c.status != "running" or time.monotonic() > deadline:
                raise RuntimeError(f"the inner engine of {c.name} did not answer ({c.status}):\n"
                                   + c.logs(tail=40).decode(errors="replace"))
            time.sleep(1)
    info = inner.info()
    assert info["Driver"] == "overlay2", info["Driver"]
    return dind


def put_file(container, path: str, data: bytes, mode: int) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(Path(path).name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    container.exec_run(["mkdir", "-p", str(Path(path).parent)])
    container.put_archive(str(Path(path).parent), buf.getvalue())


def host_keys(client: docker.DockerClient, dind: Dind) -> list[str]:
    """The DinD container's public host keys ("type base64" lines)."""
    c = client.containers.get(dind.container)
    code, out = c.exec_run(["sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub"])
    assert code == 0, out
    return [" ".join(line.split()[:2]) for line in out.decode().splitlines() if line.strip()]


def ssh_home(home: Path, dind: Dind, keys: list[str]) -> Path:
    """A $HOME whose ~/.ssh holds a fresh client key and known_hosts naming the DinD host's keys.

    Returns the public key to authorise. devenv's ssh:// transport (paramiko,
    through docker-py) reads ~/.ssh/known_hosts and ~/.ssh/id_* of $HOME."""
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    ssh.chmod(0o700)
    key = ssh / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    if keys:
        (ssh / "known_hosts").write_text("".join(f"[127.0.0.1]:{dind.ssh_port} {k}\n" for k in keys))
    return key.with_suffix(".pub")


def make_certs(directory: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as the Docker docs
    make them: ``directory/client`` holds ca.pem, cert.pem, key.pem ($DOCKER_CERT_PATH)."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    directory.mkdir(parents=True, exist_ok=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=devenv-test-ca",
        "-keyout", "ca-key.pem", "-out", "ca.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (directory / f"{name}.ext").write_text(ext + "\n")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem",
            "-out", f"{name}.csr")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}-cert.pem")
    client = directory / "client"
    client.mkdir(exist_ok=True)
    for src, dst in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / dst).write_bytes((directory / src).read_bytes())
    return client


def start_tls(client: docker.DockerClient, dind: Dind, certs: Path) -> None:
    """TLS that verifies client certificates on TLS_PORT, in front of the inner engine's API."""
    c = client.containers.get(dind.container)
    for name in ("ca.pem", "server-cert.pem", "server-key.pem"):
        put_file(c, f"/etc/devenv-tls/{name}", (certs / name).read_bytes(), 0o600)
    c.exec_run(["socat", f"openssl-listen:{TLS_PORT},reuseaddr,fork,cert=/etc/devenv-tls/server-cert.pem,"
                f"key=/etc/devenv-tls/server-key.pem,cafile=/etc/devenv-tls/ca.pem,verify=1",
                f"tcp:127.0.0.1:{API_PORT}"], detach=True)
    deadline = time.monotonic() + 20
    while c.exec_run(["sh", "-c", f"cat /proc/net/tcp | grep -qi ':{TLS_PORT:04X} .* 0A '"]).exit_code != 0:
        assert time.monotonic() < deadline, "socat did not listen"
        time.sleep(0.2)
