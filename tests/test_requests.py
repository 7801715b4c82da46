"""Background-inference plumbing: replaceable queue, LRU cache, neighbour order."""

from __future__ import annotations

import threading
import time

import pytest

from embryograde_app.core.view.requests import LruCache, ReplaceableQueue, neighbour_order


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
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.view.readouts import make_readout

    scheme = get_scheme()
    r = make_readout(scheme, 12.0, 30.0)
    assert r.grade_text == "2 (fair)" and r.disagreement and "18.0 points" in r.disagreement_text
    r = make_readout(scheme, None, 30.0)
    assert r.grade_text == "3 (poor)" and not r.disagreement and r.regression_text == "—"
    r = make_readout(scheme, 9.0, 11.0)
    assert r.grade_text == "1 (good)" and not r.disagreement
    assert make_readout(scheme, None, None).grade_text == "—"


@pytest.mark.parametrize(
    ("pct", "decimals", "text"),
    [
        (9.96, 1, "9.96"),
        (9.94, 1, "9.9"),
        (25.04, 1, "25.04"),
        (9.9996, 1, "9.99"),
        (25.0001, 1, "25.01"),
        (12.345, 1, "12.3"),
        (9.6, 0, "9.6"),
        (10.4, 0, "10"),
        (25.4, 0, "25.4"),
        (0.0, 1, "0.0"),
    ],
)
def test_a_shown_percentage_never_contradicts_its_grade(pct, decimals, text):
    """9.96 % is grade 1: shown as "10.0 %" beside "1 (good)" it would read as a mistake."""
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.view.readouts import make_readout, pct_text

    scheme = get_scheme()
    assert pct_text(scheme, pct, decimals) == text
    assert scheme.grade(float(text)) == scheme.grade(pct)
    if decimals == 1:
        assert make_readout(scheme, pct, None).regression_text == f"{text} %"


def test_the_persons_answer_wins_the_readout():
    """Corrected to 6.9 % and reviewed, the big readout still showed the model's "2 (fair)" (issue 17)."""
    from embryograde_app.core.domain.schemes import get_scheme
    from embryograde_app.core.view.readouts import PersonAnswer, make_readout

    scheme = get_scheme()
    by_mask = PersonAnswer(6.9, 6.9, "ann", from_mask=True)
    r = make_readout(scheme, 14.0, 14.5, answer=by_mask)
    assert r.grade_text == "1 (good) — ann" and r.answer_text == "6.9 % (mask) by ann"
    assert r.model_text == "model: 14.0 %, grade 2" and r.disagreement and "not what ann said" in r.disagreement_text
    assert not make_readout(scheme, 7.5, 7.0, answer=by_mask).disagreement
    by_range = PersonAnswer(10, 25, "bo", from_mask=False)
    r = make_readout(scheme, 12.0, 30.0, answer=by_range)
    assert r.grade_text == "2 (fair) — bo" and not r.disagreement  # the model inside the person's range
    assert make_readout(scheme, 40.0, None, answer=by_range).disagreement
