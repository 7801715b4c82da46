"""Project store: schema/migrations, idempotent records, registry and rollback, audit, integrity."""

from __future__ import annotations

import sqlite3

import cv2
import numpy as np
import pytest

from embryograde_app.core.project.store import DB_NAME, MIGRATIONS, ProjectError, ProjectStore


def _png(value: int, shape=(16, 16)) -> bytes:
    return cv2.imencode(".png", np.full(shape, value, np.uint8))[1].tobytes()


@pytest.fixture
def store(tmp_path):
    with ProjectStore.create(tmp_path / "p") as s:
        yield s


def test_new_project_has_current_schema_wal_and_foreign_keys(store):
    assert store.schema_version == len(MIGRATIONS)
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.integrity_check() == "ok"


def test_opening_a_folder_that_is_not_a_project(tmp_path):
    with pytest.raises(ProjectError, match="not an EmbryoGrade project"):
        ProjectStore(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    ProjectStore.create(tmp_path).close()
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("PRAGMA user_version=99")
    con.close()
    with pytest.raises(ProjectError, match="newer than this program"):
        ProjectStore(tmp_path)


def test_garbage_database_is_a_clear_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProjectError, match="cannot open the project database"):
        ProjectStore(tmp_path)


def test_an_emptied_database_beside_project_data_is_refused_not_started_over(store):
    """A zero-byte project.sqlite (a bad copy, a full disk) must not open as an empty project over stored frames."""
    embryo = store.ensure_embryo("E1")
    store.add_frame(embryo, 0, b"\x89PNG fake", ".png", (2, 2), source="test")
    root = store.root
    store.close()
    (root / DB_NAME).write_bytes(b"")
    with pytest.raises(ProjectError, match=r"database is empty, but the folder holds project data \(frames/\)"):
        ProjectStore(root)
    with pytest.raises(ProjectError, match="restore"):
        ProjectStore(root, create=True)  # an import into it is refused too
    assert (root / DB_NAME).stat().st_size == 0  # nothing written over it


def test_database_errors_read_as_what_to_do():
    import sqlite3

    from embryograde_app.core.project.records import describe_database_error

    locked = describe_database_error(sqlite3.OperationalError("database is locked"), "/p")
    assert locked.startswith("/p: the project is in use by another program")
    damaged = describe_database_error(sqlite3.DatabaseError("database disk image is malformed"), "/p")
    assert "damaged" in damaged and "restore project.sqlite from a backup" in damaged
    constraint = describe_database_error(sqlite3.IntegrityError("UNIQUE constraint failed: frames.id"), "/p")
    assert "damaged" not in constraint and "UNIQUE constraint failed" in constraint  # good data: no restore advice


def test_frames_are_idempotent_and_content_addressed(store):
    e = store.ensure_embryo("E1")
    assert store.ensure_embryo("E1") == e
    fid, new = store.add_frame(e, 5, _png(10, (32, 32)), ".png", (32, 32), "a.png")
    assert new
    assert store.add_frame(e, 5, _png(10, (32, 32)), ".png", (32, 32), "a.png") == (fid, False)
    with pytest.raises(ProjectError, match="already in the project with different pixels"):
        store.add_frame(e, 5, _png(99, (32, 32)), ".png", (32, 32), "b.png")
    assert store.read_frame(fid).mean() == 10
    assert store.frame(fid).image_path.is_relative_to(store.root / "frames")


def test_mask_revisions_chain_and_dedupe(store):
    e = store.ensure_embryo("E1")
    fid, _ = store.add_frame(e, 0, _png(0), ".png", (16, 16), "a.png")
    mask = np.zeros((16, 16), np.uint8)
    mask[:8] = 1
    r1 = store.add_mask_revision(fid, mask, "human", "alice")
    assert store.add_mask_revision(fid, mask, "human", "alice") == r1  # unchanged: no new revision
    mask[0, :4] = 2
    r2 = store.add_mask_revision(fid, mask, "human", "alice", parent_id=r1)
    revs = store.mask_revisions(fid)
    assert [r.id for r in revs] == [r1, r2] and revs[1].parent_id == r1
    assert revs[1].frag_pct == pytest.approx(100 * 4 / 128)
    assert np.array_equal(store.read_mask(revs[1]), mask)
    with pytest.raises(ProjectError, match="does not match frame"):
        store.add_mask_revision(fid, np.zeros((4, 4), np.uint8), "human", "alice")


def test_range_labels_and_reviews(store):
    e = store.ensure_embryo("E1")
    fid, _ = store.add_frame(e, 0, _png(0), ".png", (16, 16), "a.png")
    store.set_range_label(fid, 10, 25, author="bob")
    assert (store.range_label(fid)["lo"], store.range_label(fid)["hi"]) == (10, 25)
    with pytest.raises(ProjectError, match="not within"):
        store.set_range_label(fid, 30, 20)
    store.set_review(fid, True, "bob")
    assert store.review(fid)["status"] == "reviewed" and store.review(fid)["reviewer"] == "bob"
    actions = [r["action"] for r in store.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert {"create", "import", "label", "review"} <= set(actions)


def test_predictions_are_unique_per_model_version(store):
    e = store.ensure_embryo("E1")
    fid, _ = store.add_frame(e, 0, _png(0), ".png", (16, 16), "a.png")
    mask = np.zeros((16, 16), np.uint8)
    p1 = store.add_prediction(fid, "v1", 12.0, mask, "2", "istanbul2011")
    assert store.add_prediction(fid, "v1", 12.0, mask, "2", "istanbul2011") == p1
    store.add_prediction(fid, "v2", 30.0, mask, "3", "istanbul2011")
    assert store.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 2
    assert store.prediction(fid, "v1")["regression_pct"] == 12.0


def test_model_registry_publish_and_rollback(store):
    store.register_model("v1", "models/v1.safetensors", "aaa", activate=True)
    store.register_model("v2", "models/v2.safetensors", "bbb", parent_version="v1", metrics={"mae_pct": 2.0})
    assert store.active_model()["version"] == "v1"  # registering does not publish
    store.activate_model("v2")
    assert store.active_model()["version"] == "v2"
    store.activate_model("v1")  # rollback
    assert store.active_model()["version"] == "v1"
    assert [m["version"] for m in store.models()] == ["v1", "v2"]
    with pytest.raises(ProjectError, match="no model version"):
        store.activate_model("v9")
    assert store.active_model()["version"] == "v1"  # a failed switch changes nothing
    with pytest.raises(ProjectError, match="different file"):
        store.register_model("v1", "x", "zzz")


def test_a_read_only_project_still_gives_its_report(labelled_project, tmp_path, monkeypatch, capsys):
    """An archived project (no write permission) opened with WAL switched on failed every command."""
    from embryograde_app.cli import main
    from embryograde_app.core.project import store as store_mod
    from embryograde_app.core.project.store import DB_NAME, ProjectStore

    assert main(["grade", str(labelled_project)]) == 0
    capsys.readouterr()
    db = labelled_project / DB_NAME
    with ProjectStore(labelled_project) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db.read_bytes()
    monkeypatch.setattr(store_mod, "_writable", lambda root, db: False)  # what os.access says for a non-owner
    with ProjectStore(labelled_project) as store:
        assert store.read_only and len(store.models()) == 1
        with pytest.raises(ProjectError, match="read-only"):
            with store.transaction():
                pass
    out = tmp_path / "report.csv"
    assert main(["export", str(labelled_project), "--csv", str(out)]) == 0 and out.read_text().count("\n") > 1
    assert main(["models", str(labelled_project)]) == 0
    assert main(["grade", str(labelled_project), "--weights", str(tmp_path / "none.safetensors")]) != 0
    assert main(["models", str(labelled_project), "--rollback", "nothing"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert db.read_bytes() == before  # nothing was written


def test_sqlite_itself_refuses_writes_in_read_only_mode(labelled_project):
    import sqlite3

    from embryograde_app.core.project.store import ProjectStore

    with ProjectStore(labelled_project, read_only=True) as store:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.conn.execute("INSERT INTO embryos(key, name) VALUES ('x', 'x')")


def test_every_command_checks_a_damaged_project(labelled_project, tmp_path, capsys):
    """A damaged page let `grade` exit 0 ("graded 0, 48 already graded") while `export` found the damage."""
    from embryograde_app.cli import main
    from embryograde_app.core.project.store import DB_NAME, ProjectStore

    assert main(["grade", str(labelled_project)]) == 0
    with ProjectStore(labelled_project) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = store.conn.execute("PRAGMA page_size").fetchone()[0]
    db = labelled_project / DB_NAME
    data = bytearray(db.read_bytes())
    pages = len(data) // page
    for n in range(pages // 2, pages - 1):  # scribble over the back half's pages, leave the header alone
        data[n * page + 8 : n * page + 64] = b"\xa5" * 56
    db.write_bytes(bytes(data))
    capsys.readouterr()
    for argv in (["grade", str(labelled_project)], ["models", str(labelled_project)],
                 ["export", str(labelled_project), "--csv", str(tmp_path / "r.csv")]):
        assert main(argv) != 0, argv
        err = capsys.readouterr().err
        assert "damaged" in err or "malformed" in err, (argv, err)
        assert "restore" in err


def test_fetch_all_gives_every_row_exactly_in_one_step(tmp_path):
    """The window's bulk reads come back as one JSON row (one GIL hand-off, not one per row), values exact."""
    import random

    store = ProjectStore.create(tmp_path / "p")
    store.conn.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n REAL)")
    values = [(i, random.random() * 100, f"é{i}", bytes([i % 256, 7]), None) for i in range(600)]
    store.conn.executemany("INSERT INTO t VALUES (?,?,?,?,?)", values)
    rows = store.fetch_all("SELECT * FROM t WHERE i >= ?", (0,))
    assert [tuple(r.values()) for r in rows] == values  # reals to the last bit, blobs, NULLs, unicode
    assert rows[3]["r"] == values[3][1] and rows[3][0] == 3 and list(rows[0].keys()) == ["i", "r", "s", "b", "n"]
    assert store.fetch_all("SELECT * FROM t WHERE i < 0") == []
    store.close()
