"""Rendering: deterministic output, content hashes, strict templates, compose schema."""

import json
import shutil

import jsonschema
import pytest
import yaml

from devenv.errors import DevenvError, TemplateError
from devenv.profile import ProfileStore
from devenv.render import Renderer
from devenv.stackfile import write_stack
from tests.conftest import COMPOSE_SCHEMA, REFERENCE, REPO, write


def render(project, name="parent"):
    s = ProfileStore.locate(project / "profiles")
    return Renderer(s.images_dir).render(s.load(name))


def tree(path):
    return {p.relative_to(path).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_render_twice_gives_identical_bytes(project, tmp_path):
    write_stack(render(project), tmp_path / "one")
    write_stack(render(project), tmp_path / "two")
    write_stack(render(project), tmp_path / "one")  # over a previous render
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    assert "compose.yaml" in tree(tmp_path / "one")


def test_build_context_contents(project, tmp_path):
    stack = render(project)
    write_stack(stack, tmp_path / "out")
    ctx = tmp_path / "out" / "images" / "app"
    assert (ctx / "rootfs/etc/greeting.txt").read_text() == "hello from app: hello\n"
    assert (ctx / "rootfs/opt/static/a.txt").read_text() == "static file\n"
    assert (ctx / "rootfs/opt/static/run.sh").stat().st_mode & 0o777 == 0o755
    dockerfile = (ctx / "Dockerfile").read_text()
    assert dockerfile.startswith(f"FROM {stack.base.tag}\n")
    assert "less=590-2*" in dockerfile and "curl " in dockerfile


def test_plan_records_hash_of_everything_per_image(project, tmp_path):
    stack = render(project)
    write_stack(stack, tmp_path / "out")
    plan = json.loads((tmp_path / "out/plan.json").read_text())
    app = plan["images"]["app"]
    assert app["tag"] == f"devenv/app:{app['hash'][:12]}"
    assert app["base_image"] == plan["base_image"]["tag"]
    assert set(app["files"]) == {"Dockerfile", "rootfs/etc/greeting.txt", "rootfs/opt/static/a.txt",
                                 "rootfs/opt/static/run.sh"}
    assert plan["services"]["app"]["config_hash"]


def test_changed_config_changes_only_that_image(project):
    before = render(project)
    write(project / "images/tiny/greeting.txt.j2", "changed {{ service.name }}\n")
    after = render(project)
    # both services use recipe tiny, but only app declares the file
    assert before.services["app"].image.tag != after.services["app"].image.tag
    assert before.services["helper"].image.tag == after.services["helper"].image.tag


def test_changed_base_os_changes_every_image(project):
    before = render(project)
    text = (project / "profiles/parent.yaml").read_text().replace("release: bookworm", "release: trixie")
    write(project / "profiles/parent.yaml", text)
    after = render(project)
    assert before.base.tag != after.base.tag
    assert all(before.services[s].image.tag != after.services[s].image.tag for s in before.services)


def test_runtime_setting_changes_config_hash_not_image(project):
    before = render(project)
    text = (project / "profiles/parent.yaml").read_text().replace('A: "1"', 'A: "changed"')
    write(project / "profiles/parent.yaml", text)
    after = render(project)
    assert before.services["app"].image.tag == after.services["app"].image.tag
    assert before.services["app"].config_hash != after.services["app"].config_hash
    assert before.services["helper"].config_hash == after.services["helper"].config_hash


def test_profiles_differing_only_in_data_share_images(project):
    parent, child = render(project, "parent"), render(project, "grandchild")
    assert parent.services["helper"].image.tag == child.services["helper"].image.tag


def test_undefined_variable_names_template_line_and_variable(project):
    text = (project / "profiles/parent.yaml").read_text().replace("tiny/greeting.txt.j2", "tiny/broken.j2")
    write(project / "profiles/parent.yaml", text)
    with pytest.raises(TemplateError) as err:
        render(project)
    msg = err.value.render()
    assert "broken.j2:2" in msg and "no_such_variable" in msg and "service app" in msg


def test_template_syntax_error(project):
    write(project / "images/tiny/greeting.txt.j2", "{% if %}\n")
    with pytest.raises(TemplateError, match=r"greeting.txt.j2:1.*syntax error"):
        render(project)


def test_sandbox_refuses_unsafe_attribute_access(project):
    write(project / "images/tiny/greeting.txt.j2", "{{ vars.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(TemplateError):
        render(project)


def test_missing_template_and_recipe(project):
    text = (project / "profiles/parent.yaml").read_text()
    write(project / "profiles/parent.yaml", text.replace("tiny/greeting.txt.j2", "tiny/nope.j2"))
    with pytest.raises(TemplateError, match="nope.j2.*not found"):
        render(project)
    write(project / "profiles/parent.yaml", text.replace("recipe: tiny\n    packages", "recipe: nosuch\n    packages"))
    with pytest.raises(DevenvError, match="no recipe `nosuch`") as err:
        render(project)
    assert "tiny" in str(err.value) and "nginx" in str(err.value)   # the project's and the library's


def test_project_recipe_wins_over_the_library_and_library_fills_in(project):
    text = (project / "profiles/parent.yaml").read_text()
    write(project / "profiles/parent.yaml", text.replace("recipe: tiny\n    packages", "recipe: memcached\n    packages"))
    stack = render(project)
    assert "memcached" in stack.services["app"].image.files[0].data.decode()      # the library's recipe
    write(project / "images/memcached/Dockerfile.j2", "FROM {{ base_image }}\n# the project's own\n")
    stack = render(project)
    assert "# the project's own" in stack.services["app"].image.files[0].data.decode()
    from devenv.profile import ProfileStore
    store = ProfileStore.locate(project / "profiles")
    sources = dict(Renderer(store.images_dir).recipe_sources())
    assert sources["memcached"] == project / "images" and sources["nginx"].name == "recipes"


def test_copy_source_outside_images_is_refused(project):
    text = (project / "profiles/parent.yaml").read_text().replace("/opt/static: static", "/opt/static: ../profiles")
    write(project / "profiles/parent.yaml", text)
    with pytest.raises(DevenvError, match="outside"):
        render(project)


def test_write_refuses_foreign_nonempty_directory(project, tmp_path):
    write(tmp_path / "mine" / "notes.txt", "precious")
    with pytest.raises(DevenvError, match="not empty"):
        write_stack(render(project), tmp_path / "mine")
    assert (tmp_path / "mine/notes.txt").read_text() == "precious"


@pytest.fixture(scope="module")
def compose_validator():
    if not COMPOSE_SCHEMA.exists():
        pytest.fail(f"compose spec schema missing at {COMPOSE_SCHEMA}")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_compose_validates_against_compose_spec(project, tmp_path, compose_validator):
    for name in ("parent", "child", "grandchild"):
        write_stack(render(project, name), tmp_path / name)
        doc = yaml.safe_load((tmp_path / name / "compose.yaml").read_text())
        errors = list(compose_validator.iter_errors(doc))
        assert not errors, [e.message for e in errors]
    doc = yaml.safe_load((tmp_path / "parent" / "compose.yaml").read_text())
    app = doc["services"]["app"]
    assert app["ports"][0] == "127.0.0.1:18080:80/tcp"
    assert doc["services"]["helper"]["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert app["build"]["context"] == "images/app"


def test_reference_profiles_render_and_validate(tmp_path, compose_validator):
    store = ProfileStore.locate(REFERENCE / "profiles")
    renderer = Renderer(store.images_dir)
    for name in store.names():
        stack = renderer.render(store.load(name))
        write_stack(stack, tmp_path / name)
        doc = yaml.safe_load((tmp_path / name / "compose.yaml").read_text())
        assert not list(compose_validator.iter_errors(doc))
        assert doc["services"]["web"]["ports"][0].startswith("127.0.0.1:")
    small = renderer.render(store.load("small-db"))
    large = renderer.render(store.load("large-db"))
    assert {s: sp.image.tag for s, sp in small.services.items()} == \
           {s: sp.image.tag for s, sp in large.services.items()}


def test_compose_escapes_dollars_so_compose_does_not_interpolate(project, tmp_path):
    text = (project / "profiles/parent.yaml").read_text().replace(
        'test: ["CMD", "true"]', 'test: ["CMD", "bash", "-c", "read -r reply; [[ $reply == ok ]]"]')
    write(project / "profiles/parent.yaml", text)
    stack = render(project)
    write_stack(stack, tmp_path / "out")
    doc = yaml.safe_load((tmp_path / "out/compose.yaml").read_text())
    assert doc["services"]["app"]["healthcheck"]["test"][-1] == "read -r reply; [[ $$reply == ok ]]"
    assert stack.services["app"].service.healthcheck.test[-1] == "read -r reply; [[ $reply == ok ]]"
