"""Two processes on one new project: both succeed, nothing is counted twice (real subprocesses)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MAIN = Path(__file__).resolve().parents[1] / "main.py"


def _both(*argvs: list[str]) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen([sys.executable, str(MAIN), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in argvs
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate()) for p in procs]


def test_two_imports_then_two_grades_at_once(tmp_path, tiny_dataset, tiny_weights):
    from embryograde_app.core.store import ProjectStore

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
