"""Compiled templates are cached in the cache directory: the same bytes, a changed template
seen at once, no cache where the directory cannot be made."""

from devenv.profile import ProfileStore
from devenv.render import Renderer
from devenv.stackfile import write_stack


def render(project):
    s = ProfileStore.locate(project / "profiles")
    return Renderer(s.images_dir).render(s.load("parent"))


def tree(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_cached_render_gives_the_same_bytes_and_sees_an_edit(project, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVENV_CACHE", str(tmp_path / "cache"))
    write_stack(render(project), tmp_path / "cold")
    entries = sorted((tmp_path / "cache" / "templates").iterdir())
    assert entries, "no compiled template was cached"
    stamps = {p: p.stat().st_mtime_ns for p in entries}
    write_stack(render(project), tmp_path / "warm")
    assert tree(tmp_path / "cold") == tree(tmp_path / "warm")
    assert {p: p.stat().st_mtime_ns for p in entries} == stamps    # read, not rewritten
    greeting = project / "images" / "tiny" / "greeting.txt.j2"
    greeting.write_text("changed: " + greeting.read_text())
    write_stack(render(project), tmp_path / "edited")
    assert (tmp_path / "edited" / "images" / "app" / "rootfs/etc/greeting.txt").read_text().startswith("changed: ")


def test_no_cache_where_the_directory_cannot_be_made(project, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DEVENV_CACHE", str(blocker))     # a file: no directory under it
    stack = render(project)
    assert stack.services
