"""Imports run one way (docs/ARCHITECTURE.md section 2): checked on the source, lazy imports included.

A rule broken here is a design change: move the code to the layer it belongs in, or change the
architecture document first and this table with it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lower rank may never import higher rank. Packages of equal rank may import each other only where listed
# in SIDEWAYS; a package may always import itself.
RANKS = {
    "models.network": 0,
    "models.inference": 1,
    "models.training": 2,
    "embryograde_app.core.domain": 10,
    "embryograde_app.core.io": 11,
    "embryograde_app.core.view": 12,
    "embryograde_app.core.synth": 13,
    "embryograde_app.core.project": 14,
    "embryograde_app.core.grading": 15,
    "embryograde_app.core.training": 16,
    "embryograde_app.workers": 20,
    "embryograde_app.ui": 21,
    "embryograde_app.cli": 22,
}
# Leaf modules anyone may import: they import nothing of ours.
LEAVES = {
    "models",
    "models.diskspace",
    "embryograde_app",
    "embryograde_app.core",
    "embryograde_app.paths",
    "embryograde_app.heap",
    "embryograde_app.platform_check",
}
FORBIDDEN = {
    "models": ("embryograde_app", "PySide6", "pyqtgraph"),
    "embryograde_app.core": ("PySide6", "pyqtgraph"),
    "embryograde_app.ui": ("models", "torch", "torchvision"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                own = _module_name(path)
                package = own if path.name == "__init__.py" else own.rpartition(".")[0]
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
            # `from models.training import real_recipe` imports the sub-module real_recipe
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _layer(module: str) -> str | None:
    best = None
    for layer in RANKS:
        if (module == layer or module.startswith(layer + ".")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def _sources() -> list[Path]:
    return sorted(p for d in ("models", "embryograde_app") for p in (ROOT / d).rglob("*.py"))


def test_every_package_has_a_layer():
    unplaced = [
        _module_name(p)
        for p in _sources()
        if _layer(_module_name(p)) is None and _module_name(p) not in LEAVES
    ]
    assert unplaced == [], f"give these modules a layer in RANKS or LEAVES: {unplaced}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_upward(path: Path):
    module = _module_name(path)
    own = _layer(module)
    problems = []
    for lineno, target in _imports(path):
        for prefix, banned in FORBIDDEN.items():
            if (module == prefix or module.startswith(prefix + ".")) and any(
                target == b or target.startswith(b + ".") for b in banned
            ):
                problems.append(f"line {lineno}: {module} imports {target}")
        other = _layer(target)
        if own is None or other is None or other == own or target in LEAVES:
            continue
        if RANKS[other] > RANKS[own]:
            problems.append(f"line {lineno}: {module} ({own}) imports {target} ({other}), a higher layer")
    assert problems == []


def test_the_checker_sees_a_lazy_upward_import(tmp_path: Path):
    """The rule must catch an import hidden inside a function, the usual way round it."""
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from embryograde_app.ui.app import run\n    return run\n")
    assert (2, "embryograde_app.ui.app") in _imports(source)
    assert RANKS[_layer("embryograde_app.ui.app")] > RANKS[_layer("embryograde_app.core.io.frames")]
