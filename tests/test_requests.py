"""Background-inference plumbing: replaceable queue, LRU cache, neighbour order."""

from __future__ import annotations

import threading
import time

from embryograde_app.core.requests import LruCache, ReplaceableQueue, neighbour_order


def test_replace_drops_stale_work():
    q: ReplaceableQueue[int] = ReplaceableQueue()
    q.replace([1, 2, 3])
    assert q.get(0) == 1
    q.replace([7, 8])
    assert [q.get(0), q.get(0), q.get(0)] == [7, 8, None]


def test_get_blocks_until_work_arrives_and_close_wakes_it():
    q: ReplaceableQueue[str] = ReplaceableQueue()
    got = []
    t = threading.Thread(target=lambda: got.append(q.get(5)))
    t.start()
    time.sleep(0.05)
    q.extend(["a"])
    t.join(2)
    assert got == ["a"]
    t = threading.Thread(target=lambda: got.append(q.get(5)))
    t.start()
    q.close()
    t.join(2)
    assert got == ["a", None] and not t.is_alive()


def test_lru_cache_is_bounded_and_refreshes_on_get():
    c: LruCache[int, str] = LruCache(2)
    c.put(1, "a")
    c.put(2, "b")
    assert c.get(1) == "a"
    c.put(3, "c")
    assert 2 not in c and 1 in c and 3 in c and len(c) == 2
    c.discard(1)
    c.discard(42)  # absent: no error
    assert 1 not in c and c.get(1) is None and len(c) == 1


def test_neighbour_order():
    assert neighbour_order(5, 10, 2) == [5, 6, 4, 7, 3]
    assert neighbour_order(0, 3, 2) == [0, 1, 2]
    assert neighbour_order(2, 3, 1) == [2, 1]


def test_readout_grades_and_flags_disagreement():
    from embryograde_app.core.readouts import make_readout
    from embryograde_app.core.schemes import get_scheme

    scheme = get_scheme()
    r = make_readout(scheme, 12.0, 30.0)
    assert r.grade_text == "2 (fair)" and r.disagreement and "18.0 points" in r.disagreement_text
    r = make_readout(scheme, None, 30.0)
    assert r.grade_text == "3 (poor)" and not r.disagreement and r.regression_text == "—"
    r = make_readout(scheme, 9.0, 11.0)
    assert r.grade_text == "1 (good)" and not r.disagreement
    assert make_readout(scheme, None, None).grade_text == "—"
