"""The window's process freezes its long-lived heap so the garbage collector never scans it on a busy thread."""

import gc

import pytest

from embryograde_app import heap


@pytest.fixture
def restore_gc():
    yield
    heap.disable()
    gc.unfreeze()


def test_settle_does_nothing_unless_the_process_opted_in(restore_gc):
    before = gc.get_freeze_count()
    assert heap.settle("library use") is False
    assert gc.get_freeze_count() == before


def test_settle_freezes_everything_alive(restore_gc):
    keep = [[i] for i in range(50_000)]  # tracked containers, like a loaded model's modules
    heap.enable()
    assert heap.settle("model loaded") is True
    assert heap.frozen_count() >= len(keep)
