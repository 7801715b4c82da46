"""The GUI benchmark's quick mode runs (its numbers are reported by the benchmark, never asserted here)."""

from __future__ import annotations


def test_gui_bench_quick(qapp, tiny_weights):
    from bench.bench_gui import main

    result = main(["--quick", "--weights", str(tiny_weights)])
    assert result["frame_switch_ms_median"] > 0 and result["launch_to_first_window_s"] > 0
    assert result["frames_inferred_during_stall_test"] > 0
    flows = result["whole_flows"]
    assert all(flows["completed"].values()), flows
    assert {"model load", "grade all", "scrub", "retrain", "publish", "re-grade"} <= set(flows["flows"])
    assert flows["frozen_objects"] > 0 and not flows["retrain_failures"]
