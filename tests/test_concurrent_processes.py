"""Two processes on one new project: both succeed, nothing is counted twice (real subprocesses)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

MAIN = Path(__file__).resolve().parents[1] / "main.py"


def _both(*argvs: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen([sys.executable, str(MAIN), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate()) for p in procs]


def test_two_imports_then_two_grades_at_once(tmp_path, tiny_dataset, tiny_weights):
    from embryograde_app.core.project.store import ProjectStore

    project = tmp_path / "proj"
    imports = _both(["import", str(project), str(tiny_dataset)], ["import", str(project), str(tiny_dataset)])
    for run in imports:
        assert run.returncode == 0, run.stderr
        assert "UNIQUE constraint" not in run.stderr and "already exists" not in run.stderr
    with ProjectStore(project) as store:
        assert len(store.frames()) == 18 and store.integrity_check() == "ok"

    grade = ["grade", str(project), "--weights", str(tiny_weights)]
    grades = _both(grade, list(grade))
    graded = []
    for run in grades:
        assert run.returncode == 0, run.stderr
        text = run.stdout + run.stderr
        assert "File exists" not in text
        graded.append(int(re.search(r"graded (\d+) frame", text).group(1)))
    with ProjectStore(project) as store:
        predictions = store.conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        assert len(store.models()) == 1
    assert predictions == 18 and sum(graded) == 18  # each says what it wrote, not what it looked at


class _BusyOnce:
    """A connection that answers "database is locked" once, as SQLite does without waiting while another
    process's last connection cleans up the WAL on close."""

    failures = 1

    def __init__(self, conn):
        object.__setattr__(self, "_conn", conn)

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __setattr__(self, name, value):
        setattr(self._conn, name, value)

    def execute(self, sql, *args):
        if sql.startswith("PRAGMA journal_mode") and _BusyOnce.failures:
            _BusyOnce.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return self._conn.execute(sql, *args)


def test_opening_waits_out_a_busy_that_sqlite_does_not_wait_for(tmp_path, monkeypatch):
    from embryograde_app.core.project import store as store_module
    real_connect = sqlite3.connect
    monkeypatch.setattr(store_module.sqlite3, "connect", lambda *a, **k: _BusyOnce(real_connect(*a, **k)))
    _BusyOnce.failures = 1
    with store_module.ProjectStore(tmp_path / "proj", create=True) as store:
        assert store.schema_version == len(store_module.MIGRATIONS)
    assert _BusyOnce.failures == 0

    _BusyOnce.failures = 10**6  # busy for good: a clear message once the wait is over, not a hang
    monkeypatch.setattr(store_module, "OPEN_BUSY_SECONDS", 0.2)
    with pytest.raises(store_module.ProjectError, match="database is locked"):
        store_module.ProjectStore(tmp_path / "proj")
