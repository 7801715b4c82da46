"""The CSV grade report opens cleanly in LibreOffice (headless round trip; skipped where it is not installed)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import pytest

from embryograde_app.core.project.grade_reports import REPORT_COLUMNS, GradeRow, write_report

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def _rows() -> list[GradeRow]:
    return [
        GradeRow(
            "S0717-W7",
            185,
            12.34,
            11.9,
            "2",
            "istanbul2011",
            "bundled-r18",
            well=7,
            focal_plane=0,
            time_h=46.25,
            range_lo=10.0,
            range_hi=25.0,
            label_source="human",
            reviewed=True,
            reviewer="Dr. Ünal, M.",
            source='/data/run "A"/frame.jpeg',
        ),
        GradeRow("E,2", 3, 40.0, None, "3", "istanbul2011", "bundled-r18"),
    ]


def test_report_reads_back_with_the_csv_module(tmp_path):
    out = tmp_path / "r.csv"
    write_report(out, _rows())
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert tuple(rows[0]) == REPORT_COLUMNS
    assert rows[0]["reviewer"] == "Dr. Ünal, M." and rows[0]["source"] == '/data/run "A"/frame.jpeg'
    assert rows[1]["embryo_id"] == "E,2" and rows[1]["frag_pct_mask"] == ""


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed")
def test_report_survives_a_libreoffice_round_trip(tmp_path):
    out = tmp_path / "r.csv"
    write_report(out, _rows())
    converted = tmp_path / "lo"
    # Import as UTF-8 (76), comma-separated (44), quote " (34); export the same way.
    result = subprocess.run(
        [
            SOFFICE,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--infilter=CSV:44,34,76,1",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",
            "--outdir",
            str(converted),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    back = list(csv.reader(io.StringIO((converted / "r.csv").read_text("utf-8-sig"))))
    assert tuple(back[0]) == REPORT_COLUMNS
    original = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert len(back) == len(original) == 3
    for got, want in zip(back[1:], original[1:], strict=True):
        assert got[0] == want[0] and got[REPORT_COLUMNS.index("reviewer")] == want[REPORT_COLUMNS.index("reviewer")]
        assert float(got[REPORT_COLUMNS.index("frag_pct_model")]) == float(want[REPORT_COLUMNS.index("frag_pct_model")])
