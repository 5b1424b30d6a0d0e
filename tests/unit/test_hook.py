"""The generator hook's declared id ranges and fills in worker processes
(devenv.data.hook): exact foreign-key checks without the parent's ids in memory,
byte-identical output whatever the number of workers, errors naming table, row
and column from any process."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from random import Random

import pytest

from devenv.data import derive_seed
from devenv.data.generators import shop
from devenv.data.hook import GeneratorError, HookGenerator

CHUNKED = '''
import os
from pathlib import Path
SIZES = {"s": {"users": 1000, "orders": 2500}}
PIDS = Path(os.environ["HOOK_TEST_PIDS"])

def generate(ds):
    p = ds.params
    # children first in the fills, parents declared first: ranges need no order of writing
    users = ds.table("users", ["id", "name", "score"], ids=range(1, p["users"] + 1))
    orders = ds.table("orders", ["id", "user_id", "note"], ids=range(1, p["orders"] + 1),
                      references={"user_id": "users"})
    lines = ds.table("lines", ["id", "order_id", "qty"], references={"order_id": "orders"})

    def order_rows(chunk):
        with open(PIDS, "a") as f:
            f.write(f"{os.getpid()}\\n")
        for i in chunk.ids:
            chunk.row(i, 1 + int(chunk.random.random() * p["users"]), f'n"{chunk.index}')

    def user_rows(chunk):
        for i in chunk.ids:
            chunk.row(i, f"user {i}", chunk.random.random())

    def line_rows(chunk):
        n = 0
        rng = chunk.random
        for order in range(1, p["orders"] + 1):
            for _ in range(1 + int(rng.random() * 3)):
                n += 1
                chunk.row(n, order, 1 + int(rng.random() * 5))

    orders.fill(order_rows, chunk_rows=300)
    lines.fill(line_rows)
    users.fill(user_rows, chunk_rows=128)
'''


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(gen: HookGenerator, out: Path, params: dict, workers: int):
    out.mkdir()
    return gen.generate(out, params, None, workers, lambda _: None)


@pytest.fixture
def pids(tmp_path, monkeypatch):
    path = tmp_path / "pids"
    monkeypatch.setenv("HOOK_TEST_PIDS", str(path))
    return path


def test_chunks_give_the_same_bytes_whatever_the_workers(tmp_path, pids):
    gen = HookGenerator(write(tmp_path / "gen.py", CHUNKED))
    params = {**gen.sizes["s"], "seed": 4}
    one = run(gen, tmp_path / "w1", params, 1)
    assert set(pids.read_text().split()) == {str(os.getpid())}   # one process: this one
    pids.unlink()
    two = run(gen, tmp_path / "w2", params, 2)
    workers = set(pids.read_text().split())
    assert workers and str(os.getpid()) not in workers             # the chunks ran in worker processes
    three = run(gen, tmp_path / "w3", params, 3)
    assert one == two == three
    for name in ("users", "orders", "lines"):
        assert sha(tmp_path / "w1" / f"{name}.csv") == sha(tmp_path / "w2" / f"{name}.csv") \
            == sha(tmp_path / "w3" / f"{name}.csv"), name
    assert one["users"].rows == 1000 and one["orders"].rows == 2500
    assert not (tmp_path / "w2" / ".parts").exists()
    text = (tmp_path / "w1" / "orders.csv").read_text().splitlines()
    assert text[0] == "id,user_id,note" and text[1].endswith(',"n""0"') and text[-1].endswith(',"n""8"')
    assert [t.name for t in gen.tables] == ["users", "orders", "lines"]
    assert [(r.column, r.parent) for r in gen.tables[1].references] == [("user_id", "users")]


def test_each_chunk_draws_from_seed_table_and_chunk_index(tmp_path, pids):
    gen = HookGenerator(write(tmp_path / "gen.py", CHUNKED))
    run(gen, tmp_path / "a", {**gen.sizes["s"], "seed": 4}, 2)
    rows = (tmp_path / "a" / "users.csv").read_text().splitlines()[1:]
    # users chunk 1 holds ids 129..256; its first draw is its own stream's first number
    expected = Random(derive_seed("hook-chunk", 4, "users", 1)).random()
    assert rows[128] == f'129,"user 129",{expected!r}'
    assert Random(derive_seed("hook-chunk", 4, "users", 0)).random() != expected


def test_a_reference_outside_the_declared_range_names_table_row_and_column(tmp_path, pids):
    bad = CHUNKED.replace("1 + int(chunk.random.random() * p[\"users\"])",
                          "(p['users'] + 1 if i == 1700 else 1 + int(chunk.random.random() * p['users']))")
    gen = HookGenerator(write(tmp_path / "gen.py", bad))
    for workers in (1, 2):
        with pytest.raises(GeneratorError) as exc:
            run(gen, tmp_path / f"w{workers}", {**gen.sizes["s"], "seed": 1}, workers)
        assert "table orders row 1700: user_id = 1001 is not an id of users (its ids are 1..1000)" in str(exc.value)


def test_declared_ids_are_exact(tmp_path):
    made = []

    def gen_of(body: str) -> HookGenerator:
        made.append(body)
        return HookGenerator(write(tmp_path / f"g{len(made)}.py", "SIZES = {'s': {}}\ndef generate(ds):\n" + body))

    skip = gen_of("    t = ds.table('t', ['id'], ids=range(1, 4))\n    t.row(1); t.row(3)\n")
    with pytest.raises(GeneratorError, match=r"table t row 2: id = 3, but the next of its declared ids is 2"):
        run(skip, tmp_path / "a", {"seed": 1}, 1)
    short = gen_of("    t = ds.table('t', ['id'], ids=range(1, 4))\n"
                   "    t.fill(lambda c: [c.row(i) for i in c.ids], chunk_rows=2)\n"
                   "    u = ds.table('u', ['id'], ids=range(1, 7))\n"
                   "    u.fill(lambda c: [c.row(i) for i in c.ids if i != 6], chunk_rows=2)\n")
    with pytest.raises(GeneratorError, match=r"table u chunk 2 \(ids 5\.\.6\): wrote 1 rows, but its declared "
                                             r"ids 5\.\.6 are 2"):
        run(short, tmp_path / "b", {"seed": 1}, 2)
    never = gen_of("    ds.table('t', ['id'], ids=range(1, 4))\n")
    with pytest.raises(GeneratorError, match=r"table t declares 3 ids but was never written"):
        run(never, tmp_path / "c", {"seed": 1}, 1)
    more = gen_of("    t = ds.table('t', ['id'], ids=range(1, 3))\n    t.rows([(1,), (2,), (3,)])\n")
    with pytest.raises(GeneratorError, match=r"row 3: id = 3, but the next of its declared ids is 3 "
                                             r"\(the ids end at 2\)"):
        run(more, tmp_path / "d", {"seed": 1}, 1)


@pytest.mark.parametrize("body, message", [
    ("    t = ds.table('t', ['id'])\n    t.fill(lambda c: None, chunk_rows=10)\n",
     r"table t: chunk_rows needs declared ids"),
    ("    t = ds.table('t', ['id'], ids=range(1, 3))\n    u = ds.table('u', ['id'])\n"
     "    t.fill(lambda c, u: None, chunk_rows=1, also=[u])\n",
     r"a fill with also=\.\.\. is one chunk"),
    ("    t = ds.table('t', ['id'])\n    t.fill(lambda c: None)\n"
     "    ds.table('c', ['id', 't_id'], references={'t_id': 't'})\n",
     r"table c references t, which is filled in worker processes without declared ids"),
    ("    t = ds.table('t', ['id'])\n    ds.table('c', ['id', 't_id'], references={'t_id': 't'})\n"
     "    t.fill(lambda c: None)\n",
     r"table t is referenced by c, so it cannot be filled"),
    ("    t = ds.table('t', ['id'], ids=range(1, 3))\n    t.fill(lambda c: None)\n    t.row(1)\n",
     r"table t is filled; it cannot also be written with row\(\)"),
    ("    t = ds.table('t', ['id'], ids=range(1, 9, 2))\n", r"ids must be a range\(first, stop\) of step 1"),
    ("    ds.table('c', ['id', 'p_id'], references={'p_id': 'p'})\n", r"references `p`, which is not declared"),
    ("    t = ds.table('t', ['id'], ids=range(1, 3))\n    t.fill(lambda c: 1 / 0)\n",
     r"failed in table t \(chunk 0\): ZeroDivisionError"),
])
def test_misuse_is_a_generator_error(tmp_path, body, message):
    gen = HookGenerator(write(tmp_path / "g.py", "SIZES = {'s': {}}\ndef generate(ds):\n" + body))
    for workers in (1, 2):
        with pytest.raises(GeneratorError, match=message) as exc:
            run(gen, tmp_path / f"w{workers}", {"seed": 1}, workers)
        assert exc.value.exit_code == 2


def test_a_user_error_in_a_worker_is_reported_with_its_table(tmp_path):
    gen = HookGenerator(write(tmp_path / "g.py", "SIZES = {'s': {}}\ndef generate(ds):\n"
                              "    t = ds.table('t', ['id', 'v'], ids=range(1, 101))\n"
                              "    def rows(c):\n"
                              "        for i in c.ids:\n"
                              "            c.row(i, None if i == 77 else i)\n"
                              "    t.fill(rows, chunk_rows=10)\n"))
    with pytest.raises(GeneratorError, match=r"table t row 77: value None \(NoneType\) is not an int"):
        run(gen, tmp_path / "w", {"seed": 1}, 2)


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path):
    gen = HookGenerator(write(tmp_path / "g.py", "import os\nSIZES = {'s': {}}\ndef generate(ds):\n"
                              "    t = ds.table('t', ['id'], ids=range(1, 101))\n"
                              "    def rows(c):\n"
                              "        for i in c.ids:\n"
                              "            if i == 55:\n"
                              "                os._exit(3)\n"
                              "            c.row(i)\n"
                              "    t.fill(rows, chunk_rows=10)\n"))
    with pytest.raises(GeneratorError, match="a worker process of the generator died"):
        run(gen, tmp_path / "w", {"seed": 1}, 2)


def test_values_format_the_same_on_the_fast_and_the_general_path(tmp_path):
    """The first row of a writer takes the general path, later rows of the same types
    the generated one, rows of other types the general one again: same bytes."""
    gen = HookGenerator(write(tmp_path / "g.py", "SIZES = {'s': {}}\ndef generate(ds):\n"
                              "    t = ds.table('t', ['id', 'a', 'b', 'c'])\n"
                              "    for i in range(1, 4):\n"
                              "        t.row(i, 'x\"y', 1.5, True)\n"
                              "    t.row(4, 2, 'z', False)\n"
                              "    t.row(5, 'x\"y', 1.5, True)\n"))
    run(gen, tmp_path / "w", {"seed": 1}, 1)
    assert (tmp_path / "w" / "t.csv").read_text() == (
        'id,a,b,c\n1,"x""y",1.5,1\n2,"x""y",1.5,1\n3,"x""y",1.5,1\n4,2,"z",0\n5,"x""y",1.5,1\n')


def test_the_shop_in_many_chunks_gives_the_same_bytes_for_1_and_2_workers(tmp_path, monkeypatch):
    """The built-in shop generator, its users and listings cut into chunks of 300."""
    monkeypatch.setattr(shop, "CHUNK_ROWS", 300)
    gen = HookGenerator(module=shop, name="shop", scale_keys=shop.SCALE_KEYS)
    params = {**gen.sizes["small"], "seed": 1}

    class Images:
        count, width, height = 50, 320, 240

    results = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        out.mkdir()
        results.append(gen.generate(out, params, Images, workers, lambda _: None))
    assert results[0] == results[1]
    assert results[0]["listings"].rows == 2500 and results[0]["listing_images"].rows > 0
    assert [t.name for t in gen.tables] == [t.name for t in shop.TABLES]
    assert gen.tables == shop.TABLES   # what generate declares is what the module says


def test_the_python_postgres_generator_gives_the_same_bytes_for_1_and_2_workers(tmp_path):
    template = Path(__file__).resolve().parents[2] / "devenv" / "library" / "templates" / "python-postgres"
    gen = HookGenerator(template / "datagen.py")
    params = {**gen.sizes["small"], "customers": 120_001, "seed": 3}   # customers: 3 chunks
    one = run(gen, tmp_path / "w1", params, 1)
    two = run(gen, tmp_path / "w2", params, 2)
    assert one == two and one["customers"].rows == 120_001
    assert [t.name for t in gen.tables] == ["customers", "products", "orders", "order_lines"]


def test_a_large_project_dataset_is_generated_by_several_workers(tmp_path, monkeypatch):
    """materialize tells a large dataset from a small one by the generator's own counts."""
    from devenv.data import datasets
    from devenv.profile.model import Dataset
    from devenv.ui import SilentReporter

    gen_file = write(tmp_path / "gen.py", "SIZES = {'small': {'things': 10}, 'large': {'things': 60_000}}\n"
                     "def generate(ds):\n"
                     "    t = ds.table('things', ['id'], ids=range(1, ds.params['things'] + 1))\n"
                     "    t.fill(lambda c: [c.row(i) for i in c.ids], chunk_rows=20_000)\n")
    seen = []
    real = HookGenerator.generate

    def spy(self, out, params, imageset, workers=1, progress=lambda t: None):
        seen.append(workers)
        return real(self, out, params, imageset, workers, progress)

    monkeypatch.setattr(HookGenerator, "generate", spy)
    monkeypatch.setattr(datasets, "default_workers", lambda: 2)
    for size in ("small", "large"):
        files = datasets.materialize(Dataset("things", size, generator=str(gen_file)), None, tmp_path / "cache",
                                     SilentReporter())
        assert files.manifest["tables"]["things"]["rows"] == (10 if size == "small" else 60_000)
    assert seen == [1, 2]
