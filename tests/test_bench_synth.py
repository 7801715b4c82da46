"""The synthetic-data benchmark runs in smoke mode and reports sane numbers (no timing assertions)."""

from __future__ import annotations

from bench import bench_synth


def test_quick_benchmark_reports_positive_rates() -> None:
    result = bench_synth.main(["--quick"])
    assert result["size"] == 256 and result["frames"] > 0
    for key in ("render_s", "render_fps", "png_write_s", "png_write_fps", "render_to_png_ratio"):
        assert result[key] > 0, key
