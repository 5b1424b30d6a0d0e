"""Render a profile into a ``Stack``: build contexts, a compose file and a plan.

Everything is rendered in memory first; the content hash of each image is computed
from the exact bytes of its build context (Dockerfile, rendered config files,
verbatim copies), its base image and its build args, so the image tag
``devenv/<service>:<hash>`` changes exactly when what goes into the image changes.
Nothing profile-specific (not even the profile name) enters an image, so profiles
that differ only in data share their images.

Templates are rendered by a sandboxed Jinja2 environment with ``StrictUndefined``:
an undefined variable is an error naming the template, the line and the variable,
never an empty string in a production config.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from . import names
from .digest import sha256_bytes
from .errors import DevenvError, TemplateError
from .names import DEFAULT_INSTANCE, REFERENCE_PROJECT, Scope
from .profile.model import OsSpec, Profile, Service
from .settings import Naming, settings_values

LABEL = "dev.devenv"
# Bump when the way base images are made (devenv.engine.images) changes, so that
# base images made the old way get a new tag instead of being reused.
BASE_RECIPE_VERSION = 1


def _stable_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class BaseImage:
    """The OS image every service image starts FROM."""

    os: OsSpec
    tag: str
    hash: str

    @property
    def bootstrapped(self) -> bool:
        """True when devenv builds it from the archive (no ``os.image`` given)."""
        return self.os.image is None

    @classmethod
    def for_os(cls, os_spec: OsSpec) -> "BaseImage":
        recipe = {"recipe_version": BASE_RECIPE_VERSION, "distribution": os_spec.distribution, "release": os_spec.release,
                  "variant": os_spec.variant, "mirror": os_spec.mirror, "include": sorted(os_spec.include)}
        digest = sha256_bytes(_stable_json(recipe))
        if os_spec.image:
            return cls(os_spec, os_spec.image, sha256_bytes(os_spec.image.encode()))
        return cls(os_spec, f"devenv/base-{os_spec.distribution}:{os_spec.release}-{digest[:12]}", digest)


@dataclass(frozen=True)
class ContextFile:
    path: str      # relative path inside the build context
    data: bytes
    mode: int      # 0o644 or 0o755


@dataclass(frozen=True)
class ImagePlan:
    """One service image: its build context and the tag derived from its content."""

    service: str
    recipe: str
    base: BaseImage
    files: tuple[ContextFile, ...]
    build_args: tuple[tuple[str, str], ...] = ()

    @cached_property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(f"base {self.base.tag}\n".encode())
        for key, value in self.build_args:
            h.update(f"arg {key}={value}\n".encode())
        for f in self.files:
            h.update(f"file {f.path} {f.mode:o} {sha256_bytes(f.data)}\n".encode())
        return h.hexdigest()

    @property
    def tag(self) -> str:
        return f"devenv/{self.service}:{self.hash[:12]}"

    def tar(self) -> io.BytesIO:
        """The build context as an uncompressed tar, for the Engine's build API."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dirs: set[str] = {"rootfs"}  # always there: recipes `COPY rootfs/ /`
            info = tarfile.TarInfo("rootfs")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            for f in self.files:
                parts = f.path.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    d = "/".join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        info = tarfile.TarInfo(d)
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        tar.addfile(info)
                info = tarfile.TarInfo(f.path)
                info.size, info.mode = len(f.data), f.mode
                tar.addfile(info, io.BytesIO(f.data))
        buf.seek(0)
        return buf


@dataclass(frozen=True)
class ServicePlan:
    """How one service runs: its image and the runtime settings devenv applies."""

    service: Service
    image: ImagePlan
    dataset: str | None = None   # id of the dataset this service holds (the database service only)

    @cached_property
    def config_hash(self) -> str:
        """Changes when anything that requires recreating the container changes
        (every setting of ``devenv.settings.SETTINGS``)."""
        return sha256_bytes(_stable_json(settings_values(self)))[:16]


@dataclass(frozen=True)
class Stack:
    """A rendered profile: everything needed to build and run it."""

    profile: Profile
    base: BaseImage
    services: dict[str, ServicePlan] = field(default_factory=dict)
    project_root: Path | None = None    # where mount sources are
    scope: Scope | None = None          # whose containers, volumes and network these are

    def __post_init__(self):
        if self.scope is None:   # rendered without a project: the reference project's
            object.__setattr__(self, "scope", Scope(REFERENCE_PROJECT, self.profile.name))

    @property
    def dataset_id(self) -> str | None:
        """The id of the dataset the stack's database holds (None: no dataset)."""
        return dataset_id_of(self.profile)

    def for_instance(self, instance: str) -> "Stack":
        """The same stack as another instance of its profile."""
        return replace(self, scope=replace(self.scope, instance=instance))

    def naming(self) -> Naming:
        """Engine volume names and host paths of mount sources, for the settings."""
        root = self.project_root
        return Naming(volume=lambda v: names.volume_name(self.scope, v),
                      source=lambda rel: str((root / rel).resolve()) if root else rel)

    @property
    def name(self) -> str:
        return self.profile.name

    def order(self) -> list[str]:
        return self.profile.service_order()

    def plan(self) -> dict:
        return {
            "profile": self.profile.name,
            "chain": list(self.profile.chain),
            "base_image": {"tag": self.base.tag, "hash": self.base.hash,
                           "bootstrapped": self.base.bootstrapped,
                           "distribution": self.base.os.distribution, "release": self.base.os.release,
                           "variant": self.base.os.variant, "mirror": self.base.os.mirror,
                           "include": sorted(self.base.os.include)},
            "images": {
                name: {
                    "tag": sp.image.tag,
                    "hash": sp.image.hash,
                    "recipe": sp.image.recipe,
                    "base_image": sp.image.base.tag,
                    "build_args": dict(sp.image.build_args),
                    "files": {f.path: {"sha256": sha256_bytes(f.data), "mode": f"{f.mode:o}"} for f in sp.image.files},
                }
                for name, sp in sorted(self.services.items())
            },
            "services": {name: {"image": sp.image.tag, "config_hash": sp.config_hash}
                         for name, sp in sorted(self.services.items())},
        }


def _template_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the cache directory: parsing and compiling a recipe's
    templates anew is most of a render's time (every `up`, `status`, `try`).

    Jinja keys an entry by the template's name and path and checks the source's sha1 and
    the Python version before it uses it, and writes entries atomically; the sandbox is
    the environment's, applied when the template runs, so a cached template is as
    sandboxed as a fresh one. No cache where the directory cannot be made."""
    from .paths import cache_dir
    directory = cache_dir() / "templates"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


class Renderer:
    """Renders profiles with the recipes and templates of a search path.

    ``images_dir`` is the project's own recipe directory; recipes, templates and
    ``copy:`` sources not found there come from devenv's built-in recipe library
    (``devenv/library/recipes``): a project recipe of the same name wins. A
    ``copy:`` source written ``./PATH`` is relative to the project root instead
    (the app source lives in the project, not among the recipes).
    """

    def __init__(self, images_dir: Path, project_root: Path | None = None, library: bool = True,
                 project: str = REFERENCE_PROJECT):
        from .project import library_recipes
        self.project = project
        self.images_dir = Path(images_dir)
        self.project_root = Path(project_root) if project_root else self.images_dir.parent
        self.search = [d for d in (self.images_dir,) if d.is_dir()]
        if library and library_recipes().is_dir() and library_recipes().resolve() != self.images_dir.resolve():
            self.search.append(library_recipes())
        self.env = jinja2.sandbox.SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(d) for d in self.search]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            bytecode_cache=_template_cache(),
        )

    def _find(self, rel: str) -> Path | None:
        """The first directory of the search path that has ``rel``."""
        for d in self.search:
            if (d / rel).exists():
                return d
        return None

    def render(self, profile: Profile, instance: str = DEFAULT_INSTANCE) -> Stack:
        base = BaseImage.for_os(profile.os)
        services = {}
        dataset = dataset_id_of(profile)
        for name, service in sorted(profile.services.items()):
            image = self._image(profile, service, base)
            holds = dataset if profile.dataset and profile.dataset.service == name else None
            services[name] = ServicePlan(service, image, holds)
        root = str(self.project_root.resolve()) if self.project_root else ""
        return Stack(profile, base, services, self.project_root, Scope(self.project, profile.name, instance, root))

    def _context(self, profile: Profile, service: Service, base: BaseImage) -> dict[str, Any]:
        return {
            "base_image": base.tag,
            "service": {
                "name": service.name,
                "recipe": service.recipe,
                "environment": dict(service.environment),
                "ports": [{"host": p.host, "container": p.container, "host_ip": p.host_ip, "protocol": p.protocol}
                          for p in service.ports],
                "volumes": [{"name": v.name, "target": v.target} for v in service.volumes],
            },
            "packages": [{"name": p.name, "version": p.version} for p in service.packages],
            # devenv's labels of the image, written by _base as one LABEL before the config
            # layer (cached): the build API's labels= would add one uncached step per label
            "image_labels": names.service_image_labels(service.name),
            "os": {"distribution": profile.os.distribution, "release": profile.os.release},
            "vars": profile.vars,
        }

    def _image(self, profile: Profile, service: Service, base: BaseImage) -> ImagePlan:
        if self._find(f"{service.recipe}/Dockerfile.j2") is None:
            close = difflib.get_close_matches(service.recipe, self.recipes(), n=1)
            raise DevenvError(
                f"service {service.name}: no recipe `{service.recipe}` (no {service.recipe}/Dockerfile.j2 in "
                f"{' or '.join(str(d) for d in self.search)})",
                f"did you mean `{close[0]}`?" if close else f"recipes available: {', '.join(self.recipes()) or 'none'}")
        ctx = self._context(profile, service, base)
        files = {"Dockerfile": ContextFile("Dockerfile", self._render(f"{service.recipe}/Dockerfile.j2", ctx, service), 0o644)}
        for dest, template in service.files:
            data = self._render(template, ctx, service)
            rel = "rootfs" + dest
            found = self._find(template)
            executable = found is not None and os.access(found / template, os.X_OK)
            files[rel] = ContextFile(rel, data, 0o755 if executable else 0o644)
        for dest, source in service.copy:
            if any(dest == m.target or dest.startswith(m.target.rstrip("/") + "/") for m in service.mounts):
                continue   # the working tree is mounted there: the image need not carry (nor hash) it
            for rel_src, path in self._sources(source, service):
                rel = "rootfs" + dest + (("/" + rel_src) if rel_src else "")
                mode = 0o755 if os.access(path, os.X_OK) else 0o644
                files[rel] = ContextFile(rel, path.read_bytes(), mode)
        return ImagePlan(service.name, service.recipe, base, tuple(files[k] for k in sorted(files)))

    def _sources(self, source: str, service: Service) -> list[tuple[str, Path]]:
        if source.startswith("./"):
            base = self.project_root.resolve()
            where = f"the project {base}"
        else:
            found = self._find(source)
            base = (found or self.search[0] if self.search else self.images_dir).resolve()
            where = " or ".join(str(d) for d in self.search)
        root = (base / source).resolve()
        if base not in root.parents and root != base:
            raise DevenvError(f"service {service.name}: copy source `{source}` is outside {where}")
        if root.is_file():
            return [("", root)]
        if not root.is_dir():
            raise DevenvError(f"service {service.name}: copy source `{source}` does not exist in {where}")
        out = []
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc"):
                out.append((path.relative_to(root).as_posix(), path))
        return out

    def _render(self, template: str, ctx: dict[str, Any], service: Service) -> bytes:
        try:
            return self.env.get_template(template).render(ctx).encode()
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(str(exc.name), None, f"template not found under {self.images_dir}", service.name) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(exc.name or template, exc.lineno, f"syntax error: {exc.message}", service.name) from None
        except jinja2.UndefinedError as exc:
            name, line = _template_frame(exc, template)
            raise TemplateError(name, line, f"undefined variable: {exc.message}", service.name) from None
        except jinja2.sandbox.SecurityError as exc:
            name, line = _template_frame(exc, template)
            raise TemplateError(name, line, f"not allowed in a template: {exc}", service.name) from None

    def recipes(self) -> list[str]:
        return sorted({p.parent.name for d in self.search for p in d.glob("*/Dockerfile.j2")})

    def recipe_sources(self) -> list[tuple[str, Path]]:
        """Every recipe with the directory it comes from (the first on the search path wins)."""
        return [(name, self._find(f"{name}/Dockerfile.j2")) for name in self.recipes()]


def dataset_id_of(profile: Profile) -> str | None:
    """The dataset's id: part of the database service's settings, so that a changed
    dataset recreates that container (the volume is kept; `up` then warns)."""
    if profile.dataset is None:
        return None
    from .data.datasets import dataset_id
    return dataset_id(profile.dataset, profile.imageset)


def _template_frame(exc: BaseException, default: str) -> tuple[str, int | None]:
    """The innermost template file and line in a Jinja2 traceback."""
    name, line = default, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or tb.tb_frame.f_globals.get("__jinja_template__") is not None:
            name, line = filename, tb.tb_lineno
        tb = tb.tb_next
    return name, line
