"""A damaged review store: refused before anything is written, and salvaged into a new store.

Real SQLite files damaged as a torn write or a bad sector would (pages overwritten with random
bytes, picked through SQLite's ``dbstat``), and the real ``reason4rec`` command in subprocesses.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest
from test_cli import _linked_home, run_cli
from test_store import damage, store_of

from reason4rec.memory.salvage import SalvageError, salvage_store
from reason4rec.memory.store import ReviewStore


def _rows(path: Path) -> dict[str, set[tuple]]:
    """Every table's rows as the store keeps them (statuses left out: salvage sets them pending)."""
    with sqlite3.connect(f"{path.as_uri()}?immutable=1", uri=True) as db:
        found = {"users": set(db.execute("SELECT user_id, created FROM users")),
                 "items": set(db.execute("SELECT * FROM items")),
                 "reviews": set(db.execute("SELECT review_id, user_id, item_id, rating, timestamp, text, title, "
                                           "revision, summary_version, origin FROM reviews")),
                 "review_history": set(db.execute("SELECT * FROM review_history"))}
    db.close()
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_add_review_on_a_damaged_store_is_refused_before_any_model_loads(sentence_model_dir: Path, tmp_path: Path):
    home = _linked_home(tmp_path / "home", sentence_model_dir)
    path = store_of(home / "memory" / "reviews.sqlite")
    damage(path, "reviews", 2)
    before = _digest(path)
    started = time.perf_counter()
    result = run_cli("memory", "add-review", "--user", "ADH0O8UVJOT10", "--item", "D5NEW", "--rating", "4",
                     "--text", "Quiet pedal, sturdy.", "--adapters", str(tmp_path / "no-adapters"), home=home)
    seconds = time.perf_counter() - started
    # loading the Summarizer from no-adapters would fail into "summary pending" and exit 0
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: the review was not stored: review store {path} is damaged ")
    assert "nothing was written to it" in result.stderr and "Summarizer" not in result.stderr
    assert f"reason4rec memory salvage {path.with_name('reviews.recovered.sqlite')}" in result.stderr
    assert _digest(path) == before
    assert seconds < 30  # about 1.5 s on a 2-core CPU; the bound only catches a model being loaded


def test_salvage_of_a_whole_store_recovers_every_row_as_a_normal_store(tmp_path: Path):
    source = store_of(tmp_path / "reviews.sqlite")
    before = _digest(source)
    report = salvage_store(source, tmp_path / "recovered.sqlite")
    assert not report.damaged and report.lost_reviews == 0
    assert {name: (t.recovered, t.counted) for name, t in report.tables.items()} == {
        "users": (97, 97), "items": (300, 300), "reviews": (300, 300), "review_history": (2, 2)}
    assert _rows(tmp_path / "recovered.sqlite") == _rows(source)
    assert _digest(source) == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "recovered.sqlite", "reviews.sqlite"]  # nothing left beside either file
    with ReviewStore(tmp_path / "recovered.sqlite") as store:  # a store like any other
        store.check_integrity()
        counts = store.counts()
        assert (counts["reviews"], counts["pending"], counts["stale_profiles"]) == (300, 300, 0)
        assert store.item_title("I1") == "Pedal" and len(store.history(store.review_of("U1", "I1").review_id)) == 1
        assert store.add("U1", "I300", 4, "works.").outcome == "created"


def test_salvage_of_a_damaged_store_loses_only_the_rows_on_damaged_pages(tmp_path: Path):
    source = store_of(tmp_path / "home" / "memory" / "reviews.sqlite")
    whole = _rows(source)
    damage(source, "reviews_by_user", 1, kind="leaf", seed=8)  # an index page: its rows are read via the table
    lost = damage(source, "reviews", 2)
    assert 0 < lost < 40
    before = _digest(source)
    out = tmp_path / "recovered.sqlite"
    result = run_cli("memory", "salvage", str(out), "--home", str(tmp_path / "home"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"salvaged {source} into {out} in ") and "some pages were damaged" in lines[0]
    assert lines[1] == (f"reviews: {300 - lost} of 300 ({lost} lost with damaged pages); all stored pending, so the "
                        "memory is derived from them again")
    assert lines[2] == "users: 97 of 97; items: 300 of 300; earlier versions of reviews: 2 of 2"
    assert lines[3].startswith(f"next: set memory.store_path to {out} (") and lines[3].endswith(
        "then run `reason4rec memory build --rebuild` (with the dataset the memory was built from: lost imported "
        "reviews come back from it) so the vector memory matches the recovered reviews")
    assert _digest(source) == before
    recovered = _rows(out)
    assert len(recovered["reviews"]) == 300 - lost and recovered["reviews"] <= whole["reviews"]
    assert {name: rows for name, rows in recovered.items() if name != "reviews"} == {
        name: rows for name, rows in whole.items() if name != "reviews"}
    with ReviewStore(out) as store:
        store.check_integrity()
        assert store.counts()["pending"] == 300 - lost


def test_salvage_recreates_users_whose_rows_were_lost(tmp_path: Path):
    source = store_of(tmp_path / "reviews.sqlite", reviews=1200, users=600)  # users fill several pages
    lost = damage(source, "users", 1)
    report = salvage_store(source, tmp_path / "recovered.sqlite")
    assert report.damaged and 0 < lost == report.written.recreated_users and report.written.users == 600 - lost
    assert report.tables["reviews"].recovered == 1200 and report.tables["users"].counted == 600
    with ReviewStore(tmp_path / "recovered.sqlite") as store:
        assert store.counts()["users"] == 600 and store.item_title("I1") == "Pedal"


@pytest.mark.parametrize("case", ["out exists", "garbage", "foreign", "missing"])
def test_salvage_refuses_in_one_line_and_writes_nothing(tmp_path: Path, case: str):
    home = tmp_path / "home"
    source, out = home / "memory" / "reviews.sqlite", tmp_path / "recovered.sqlite"
    if case == "out exists":
        store_of(source, reviews=20)
        out.write_text("a file of mine\n")
    elif case == "garbage":
        source.parent.mkdir(parents=True)
        source.write_bytes(b"this is not a database at all" * 200)
    elif case == "foreign":
        source.parent.mkdir(parents=True)
        with sqlite3.connect(source) as db:
            db.execute("CREATE TABLE reviews (x)")
        db.close()
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = run_cli("memory", "salvage", str(out), "--home", str(home))
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    expected = {"out exists": f"{out} already exists: salvage writes a new store and never overwrites a file",
                "garbage": f"{source} cannot be read as a SQLite file",
                "foreign": f"{source} is not a reason4rec review store",
                "missing": f"no review store at {source}"}[case]
    assert result.stderr.startswith(f"error: {expected}"), result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files


def test_salvage_api_refuses_an_existing_out_before_reading(tmp_path: Path):
    out = tmp_path / "taken.sqlite-wal"
    out.write_bytes(b"")
    with pytest.raises(SalvageError, match=r"taken\.sqlite-wal already exists"):
        salvage_store(tmp_path / "missing.sqlite", tmp_path / "taken.sqlite")
