"""The one-command recipe: from nothing to an exported, evaluated model whose card says how it was made; a
rerun continues (finished steps skipped), and another recipe cannot reuse the same runs."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from training.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "training" / "recipes" / "smoke.yaml"
pytestmark = pytest.mark.slow       # the smoke recipe end to end, about a minute: make test-slow


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    recipe = root / "smoke.yaml"
    shutil.copy(SMOKE, recipe)
    model = Recipe(recipe, root, log=lambda line: None).run()
    return root, recipe, model


def test_the_card_records_the_recipe_its_seeds_data_and_phases(made):
    root, recipe, model = made
    card = json.loads((model / "model_card.json").read_text())
    spec = yaml.safe_load(recipe.read_text())
    rec = card["provenance"]["recipe"]
    assert rec["sha256"] == hashlib.sha256(recipe.read_bytes()).hexdigest()
    assert rec["command"] == f"python -m training recipe {recipe}"
    assert rec["seed"] == spec["base"]["seed"]
    for role, ds in spec["datasets"].items():
        assert f"--seed {ds['seed']}" in rec["datasets"][role]["command"]
        manifest = json.loads((root / ds["out"] / "manifest.json").read_text())
        assert {p["split"] for p in manifest["phantoms"]} == {role}       # each set its own phantoms
    assert [p["name"] for p in rec["phases"]] == [p["name"] for p in spec["phases"]]
    assert all(p["wall_s"] > 0 and p["selected_step"] is not None for p in rec["phases"])
    assert card["metrics"]["model_sha256"] == card["sha256"]
    assert card["metrics"]["external"].startswith("not evaluated")      # the external set was never rendered
    assert set(card["guard"]["limits"]) and card["domain"]["slice_thickness_mm"][0] > 0


def test_each_phase_starts_from_the_one_before(made):
    root, recipe, _ = made
    spec = yaml.safe_load(recipe.read_text())
    run_root = root / spec["run_root"]
    configs = [yaml.safe_load((run_root / p["name"] / "config.yaml").read_text()) for p in spec["phases"]]
    assert "init_from" not in configs[0]
    for previous, phase, cfg in zip(spec["phases"], spec["phases"][1:], configs[1:]):
        assert cfg["init_from"] == str(run_root / previous["name"] / "best.pt")
        assert ("init_critic" in cfg) == bool(phase.get("critic"))
    assert configs[-1]["loss"]["lung_cdf_weight"] == spec["phases"][-1]["loss"]["lung_cdf_weight"]


def test_a_rerun_skips_what_is_finished(made):
    root, recipe, model = made
    before = (model / "model.ts").read_bytes()
    logged = []
    Recipe(recipe, root, log=logged.append).run()
    assert logged == [] and (model / "model.ts").read_bytes() == before


def test_another_recipe_cannot_reuse_the_runs(made):
    root, recipe, _ = made
    other = root / "other.yaml"
    other.write_text(recipe.read_text().replace("steps: 2", "steps: 3", 1))
    with pytest.raises(ValueError, match="another recipe"):
        Recipe(other, root)
