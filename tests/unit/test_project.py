"""Projects, init, the usage records and cache, and watch's scanning and debouncing."""

import threading
import time

import pytest

from devenv.errors import DevenvError, ProfileError
from devenv.housekeeping import cache_entries, load_records, prune_cache, record_use
from devenv.project import find_root, load, locate, reference_project, sanitize
from devenv.scaffold import init_project, templates
from devenv.watch import Change, IgnoreRules, Watcher, diff, scan
from tests.conftest import write


def test_project_found_upward_and_named(tmp_path):
    root = tmp_path / "My Shop"
    write(root / "devenv.yaml", "default: large-db\n")
    (root / "app/deep").mkdir(parents=True)
    assert find_root(root / "app/deep") == root.resolve()
    p = locate(cwd=root / "app/deep")
    assert (p.name, p.default_profile, p.root) == ("my-shop", "large-db", root.resolve())
    assert sanitize("Über_Shop!!") == "ber_shop"


def test_no_project_means_the_reference_project(tmp_path, monkeypatch):
    monkeypatch.delenv("DEVENV_PROJECT", raising=False)
    p = locate(cwd=tmp_path)
    assert p.reference and p.name == "devenv" and (p.profiles_dir / "small-db.yaml").is_file()


def test_bad_devenv_yaml_names_every_issue_with_position(tmp_path):
    write(tmp_path / "devenv.yaml", "name: Bad/Name\ndefualt: x\nprofiles: ../elsewhere\n")
    with pytest.raises(ProfileError) as err:
        load(tmp_path)
    text = str(err.value)
    assert "devenv.yaml:1:" in text and "not a project name" in text
    assert "devenv.yaml:2:" in text and "did you mean `default`" in text
    assert "devenv.yaml:3:" in text and "outside the project" in text


def test_init_scaffolds_a_project_and_refuses_to_overwrite(tmp_path):
    assert "lamp" in templates()
    r = init_project(tmp_path / "shop", "lamp", recipes=("nginx",))
    root = tmp_path / "shop"
    assert (root / "devenv.yaml").read_text().startswith("name: shop\n")
    assert (root / ".gitignore").is_file() and (root / "app/public/index.php").is_file()
    assert (root / "images/nginx/Dockerfile.j2").is_file() and not (root / "images/php").exists()
    assert "profiles/small-db.yaml" in r.files
    assert load(root).name == "shop"
    with pytest.raises(DevenvError, match="already holds a devenv project"):
        init_project(root, "lamp")
    with pytest.raises(DevenvError, match="did you mean `lamp`"):
        init_project(tmp_path / "other", "lmap")


def test_reference_project_profiles_load():
    from devenv.profile import ProfileStore
    p = reference_project()
    store = ProfileStore(p.profiles_dir, p.recipes_dir, p.root)
    small = store.load("small-db")
    assert [m.target for m in small.services["web"].mounts] == ["/srv/app"]
    assert not store.load("base").services["web"].mounts


def test_usage_records_keep_current_and_previous_and_name_what_edits_left(tmp_path):
    assert record_use(tmp_path, "a", "/a", "small-db", {"web": "devenv/web:1"}, "ds1", None) == []
    assert record_use(tmp_path, "a", "/a", "small-db", {"web": "devenv/web:2"}, "ds1", None) == []
    assert record_use(tmp_path, "a", "/a", "small-db", {"web": "devenv/web:3"}, "ds1", None) == ["devenv/web:1"]
    assert load_records(tmp_path)["a"]["profiles"]["small-db"]["images"]["web"] == ["devenv/web:3", "devenv/web:2"]
    # an image another project still keeps is not left behind
    record_use(tmp_path, "b", "/b", "small-db", {"web": "devenv/web:3"}, None, None)
    record_use(tmp_path, "a", "/a", "small-db", {"web": "devenv/web:4"}, "ds1", None)
    assert record_use(tmp_path, "a", "/a", "small-db", {"web": "devenv/web:5"}, "ds1", None) == []


def test_cache_lists_by_project_and_prunes_only_unused(tmp_path):
    write(tmp_path / "datasets/ds1/load.sql", "x" * 100)
    write(tmp_path / "datasets/ds2/load.sql", "y" * 50)
    write(tmp_path / "snapshots/a/small-db/latest/manifest.json", "{}")
    record_use(tmp_path, "a", "/a", "small-db", {}, "ds1", None)
    entries = {(e.kind, e.id): e for e in cache_entries(tmp_path)}
    assert entries[("dataset", "ds1")].used_by == ("a/small-db",) and entries[("dataset", "ds1")].bytes == 100
    assert entries[("dataset", "ds2")].used_by == ()
    assert entries[("snapshot", "a/small-db/latest")].used_by == ("a",)
    assert [e.id for e in prune_cache(tmp_path, dry_run=True)] == ["ds2"]
    assert (tmp_path / "datasets/ds2").exists()
    assert [e.id for e in prune_cache(tmp_path)] == ["ds2"]
    assert not (tmp_path / "datasets/ds2").exists() and (tmp_path / "datasets/ds1").exists()
    assert [e.id for e in prune_cache(tmp_path, snapshots_of="a")] == ["a/small-db/latest"]


def test_ignore_rules_and_scan(tmp_path):
    write(tmp_path / ".gitignore", "*.log\n/build/\n!keep.log\nnode_modules/\n")
    write(tmp_path / "profiles/a.yaml", "x")
    write(tmp_path / "profiles/x.log", "x")
    write(tmp_path / "profiles/keep.log", "x")
    write(tmp_path / "build/out.txt", "x")
    write(tmp_path / "app/node_modules/m.js", "x")
    write(tmp_path / "app/main.py", "x")
    rules = IgnoreRules.of(tmp_path)
    seen = scan(tmp_path, [tmp_path / "profiles", tmp_path / "build", tmp_path / "app"], [], rules)
    assert sorted(seen) == ["app/main.py", "profiles/a.yaml", "profiles/keep.log"]
    seen = scan(tmp_path, [tmp_path / "profiles", tmp_path / "app"], [tmp_path / "app"], rules)
    assert "app/main.py" not in seen
    before = dict(seen)
    write(tmp_path / "profiles/a.yaml", "changed!")
    assert diff(before, scan(tmp_path, [tmp_path / "profiles"], [], rules)) == ["profiles/a.yaml"]


def test_watcher_debounces_a_burst_into_one_change(tmp_path):
    write(tmp_path / "profiles/a.yaml", "1")
    applied, changes = [], []
    stop = threading.Event()
    ready = threading.Event()

    def apply(paths):
        applied.append(paths)
        return Change(tuple(paths), True, "ok", 0.0)

    w = Watcher(tmp_path, lambda: ([tmp_path / "profiles"], []), apply, changes.append, poll=0.02, debounce=0.1)
    t = threading.Thread(target=w.run, args=(stop, ready.set), daemon=True)
    t.start()
    ready.wait(5)
    for i in range(5):                      # an editor's save: several writes in a row
        write(tmp_path / "profiles/a.yaml", f"{i} " * (i + 2))
        time.sleep(0.02)
    deadline = time.monotonic() + 5
    while not changes and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    stop.set()
    t.join(5)
    assert len(applied) == 1 and applied[0] == ["profiles/a.yaml"]
