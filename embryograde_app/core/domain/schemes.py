"""Grading schemes are data (resources/grading_schemes.json); this module turns a % into a grade."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from embryograde_app.paths import GRADING_SCHEMES_JSON

DEFAULT_SCHEME = "istanbul2011"
BACKGROUND, BLASTOMERE, FRAGMENT = 0, 1, 2


def frag_pct(mask: np.ndarray) -> float:
    """Fragmentation % = 100 * fragment / (fragment + blastomere) pixels; 0 when both are 0."""
    frag = int(np.count_nonzero(mask == FRAGMENT))
    cell = int(np.count_nonzero(mask == BLASTOMERE))
    total = frag + cell
    return 100.0 * frag / total if total else 0.0


@dataclass(frozen=True)
class GradeBin:
    grade: str
    name: str
    lo: float
    hi: float
    lo_closed: bool
    hi_closed: bool

    def contains(self, pct: float) -> bool:
        above = pct >= self.lo if self.lo_closed else pct > self.lo
        below = pct <= self.hi if self.hi_closed else pct < self.hi
        return above and below


@dataclass(frozen=True)
class GradingScheme:
    key: str
    title: str
    bins: tuple[GradeBin, ...]

    def grade(self, pct: float) -> str:
        """Grade of a fragmentation %; values outside 0..100 are clipped first."""
        pct = min(max(float(pct), 0.0), 100.0)
        for b in self.bins:
            if b.contains(pct):
                return b.grade
        raise ValueError(f"scheme {self.key!r} has no bin for {pct}")  # pragma: no cover - schemes are checked

    def range_grade(self, lo: float, hi: float) -> str | None:
        """The grade of every % strictly inside [lo, hi]; None when the range spans two grades.

        A range label says "somewhere in lo..hi", so its end points carry no weight of their own: "0–10 %"
        means good although 10 % itself is fair under istanbul2011. An exact label (lo == hi) is graded as is.
        """
        if lo >= hi:
            return self.grade(lo)
        middle = self.bin_of(self.grade((lo + hi) / 2))
        return middle.grade if middle.lo <= lo and hi <= middle.hi else None

    def bin_index(self, pct: float) -> int:
        grade = self.grade(pct)
        return next(i for i, b in enumerate(self.bins) if b.grade == grade)

    def bin_of(self, grade: str) -> GradeBin:
        for b in self.bins:
            if b.grade == grade:
                return b
        raise KeyError(f"scheme {self.key!r} has no grade {grade!r}")


def _parse_scheme(key: str, raw: dict) -> GradingScheme:
    bins = tuple(
        GradeBin(
            grade=str(b["grade"]),
            name=str(b.get("name", b["grade"])),
            lo=float(b["lo"]),
            hi=float(b["hi"]),
            lo_closed=bool(b.get("lo_closed", True)),
            hi_closed=bool(b.get("hi_closed", False)),
        )
        for b in raw["bins"]
    )
    scheme = GradingScheme(key=key, title=str(raw.get("title", key)), bins=bins)
    # Every % in 0..100 must land in exactly one bin: check on a fine grid and at every edge.
    probes = set(np.linspace(0, 100, 2001).tolist()) | {b.lo for b in bins} | {b.hi for b in bins}
    for p in probes:
        hits = sum(b.contains(p) for b in bins)
        if hits != 1:
            raise ValueError(f"grading scheme {key!r}: {p}% falls in {hits} bins (must be exactly one)")
    return scheme


@lru_cache(maxsize=4)
def load_schemes(path: Path = GRADING_SCHEMES_JSON) -> dict[str, GradingScheme]:
    """All schemes in a JSON file, validated so that every % has exactly one grade."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read grading schemes ({exc})") from exc
    return {key: _parse_scheme(key, value) for key, value in raw.items()}


def get_scheme(name: str = DEFAULT_SCHEME) -> GradingScheme:
    schemes = load_schemes()
    if name not in schemes:
        raise ValueError(f"unknown grading scheme {name!r}; known: {', '.join(sorted(schemes))}")
    return schemes[name]
