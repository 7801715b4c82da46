"""`train --project`: headless retraining from a project's labels registers (and activates) a new version."""

from __future__ import annotations

import pytest

from embryograde_app.cli import main
from embryograde_app.core.project.registry import ensure_active_model
from embryograde_app.core.project.store import ProjectStore


def _train(project, *extra: str) -> int:
    argv = ["train", "--project", str(project), "--stage", "2", "--epochs", "2", "--device", "cpu", "--views", "1"]
    return main(argv + ["--batch-size", "4", "--val-fraction", "0.34", *extra])


def test_train_project_registers_and_activates_with_force(project, capsys):
    assert _train(project, "--force") == 0
    out = capsys.readouterr().out
    assert "mae_pct:" in out and "now active" in out
    with ProjectStore(project) as store:
        rows = store.models()
        active = store.active_model()
        assert [r["version"] for r in rows][0] == "tiny-test" and len(rows) == 2
        assert active["version"] == rows[1]["version"] and active["parent_version"] == "tiny-test"
        assert store.model_path(active).is_file()
    assert not any((project / "models" / "candidates").iterdir())


def test_train_project_no_activate_only_registers(project, capsys):
    assert _train(project, "--no-activate") == 0
    assert "registered, not active" in capsys.readouterr().out
    with ProjectStore(project) as store:
        assert len(store.models()) == 2 and store.active_model()["version"] == "tiny-test"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--project", "{tmp}/nowhere"], "not an EmbryoGrade project"),
        (["{tmp}/w.safetensors", "--project", "{proj}"], "give neither OUT nor --data"),
        (["--project", "{proj}", "--stage", "e2e"], "e2e is for --data"),
        ([], "give OUT.safetensors and --data DIR, or --project PROJECT"),
    ],
)
def test_train_project_bad_input(project, tmp_path, capsys, extra, message):
    extra = [a.replace("{tmp}", str(tmp_path)).replace("{proj}", str(project)) for a in extra]
    argv = ["train", *extra] + ([] if "--stage" in extra else ["--stage", "2"])
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def test_train_project_with_too_few_labels(tmp_path, tiny_weights, capsys):
    root = tmp_path / "empty"
    with ProjectStore.create(root) as store:
        ensure_active_model(store, tiny_weights)
    assert main(["train", "--project", str(root), "--stage", "2", "--device", "cpu"]) == 1
    assert "at least 2 frames" in capsys.readouterr().err


def test_models_lists_versions_and_rolls_back(project, capsys):
    from embryograde_app.core.project.registry import publish
    from embryograde_app.core.training import retraining as rt
    candidate = rt.retrain(
        rt.RetrainSettings(project=str(project), epochs=1, batch_size=4, device="cpu", views=1, val_fraction=0.34)
    )
    publish(candidate)
    assert main(["models", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("  tiny-test") and lines[2].startswith(f"* {candidate.version}")
    assert "->" in lines[2] and "tiny-test" in lines[2]  # its parent and its held-out comparison
    assert main(["models", str(project), "--rollback", "tiny-test"]) == 0
    out = capsys.readouterr().out
    assert "now using tiny-test" in out and "* tiny-test" in out
    assert main(["models", str(project), "--rollback", "nope"]) == 1
    assert "no model version 'nope'" in capsys.readouterr().err
