"""``python -m training recipe RECIPE.yaml``: one command from an empty ``data/`` and ``runs/`` to an exported,
evaluated model with its card.

A recipe declares, in order:

- ``datasets``: the simulator datasets by role (``train``, ``val``, ``test``), each a ``make_dataset`` call
  with its seeds (``python -m simulation dataset``; a phantom folder without ``DONE`` is redone);
- ``base``: the training config every phase shares (``python -m training fit``'s keys, without ``data``,
  ``run_dir`` and ``steps``);
- ``phases``: each a name, a number of steps, the config keys it changes (``loss`` merged key by key) and its
  selection rule (``select_by``, validation data only). A phase starts from the previous phase's ``best.pt``
  generator and, with ``critic: true``, its last critic;
- ``export`` (name, version; the card's validated ``domain`` is measured on the train set) and ``evaluate``:
  the consistency guard's limits calibrated on the val set, the held-out (``test``) set, and an ``external``
  dataset that is only reported (skipped, and the card says so, when it has not been rendered).

Resumable: each step leaves a record in ``run_root/recipe_state.json``; a rerun skips finished steps and a
phase cut short resumes from its ``checkpoint.pt``. The card records the command, the recipe's sha256, every
seed, each dataset's command and wall time, and each phase's steps, selected step and wall time.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path

import yaml

ROLES = ("train", "val", "test")


def load_recipe(path: Path) -> dict:
    recipe = yaml.safe_load(Path(path).read_text())
    missing = [k for k in ("name", "run_root", "datasets", "base", "phases", "export") if k not in recipe]
    if missing:
        raise ValueError(f"recipe {path}: missing {', '.join(missing)}")
    if not {"train", "val"} <= set(recipe["datasets"]):
        raise ValueError(f"recipe {path}: datasets needs train and val (checkpoints are chosen on val only)")
    names = [p["name"] for p in recipe["phases"]]
    if len(set(names)) != len(names):
        raise ValueError(f"recipe {path}: phase names repeat: {names}")
    return recipe


def phase_config(recipe: dict, index: int, root: Path) -> dict:
    """The ``fit`` config of phase ``index``: ``base`` with the phase's keys over it, its own run folder, the
    train and val datasets, and the previous phase's generator (and critic) to start from."""
    phase = recipe["phases"][index]
    cfg = copy.deepcopy(recipe["base"])
    for key, value in phase.items():
        if key in ("name", "critic"):
            continue
        if key == "loss":
            cfg.setdefault("loss", {}).update(value)
        else:
            cfg[key] = copy.deepcopy(value)
    cfg["data"] = [str(root / recipe["datasets"][r]["out"]) for r in ("train", "val")]
    cfg["run_dir"] = str(root / recipe["run_root"] / phase["name"])
    cfg.pop("init_from", None)
    cfg.pop("init_critic", None)
    if index:
        previous = root / recipe["run_root"] / recipe["phases"][index - 1]["name"]
        cfg["init_from"] = str(previous / "best.pt")
        if phase.get("critic"):
            cfg["init_critic"] = str(previous / "checkpoint.pt")
    return cfg


class Recipe:
    """Runs a recipe's steps in order under ``root`` (paths in the recipe are relative to it)."""

    def __init__(self, path: Path, root: Path = Path("."), log=print):
        self.path, self.root, self.log = Path(path), Path(root), log
        self.recipe = load_recipe(self.path)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.run_root = self.root / self.recipe["run_root"]
        self.state_path = self.run_root / "recipe_state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        if self.state and self.state.get("recipe_sha256") != self.sha256:
            raise ValueError(f"{self.run_root} was made by another recipe (sha256 "
                             f"{str(self.state.get('recipe_sha256'))[:12]}...); use a new run_root")
        self.state.update(recipe_sha256=self.sha256, recipe=str(self.path))
        self.state.setdefault("steps", {})

    def _done(self, key: str) -> dict | None:
        return self.state["steps"].get(key)

    def _record(self, key: str, **info) -> None:
        self.state["steps"][key] = info
        self.run_root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n")
        tmp.replace(self.state_path)

    # ---- steps ------------------------------------------------------------------------------------------
    def datasets(self) -> None:
        from simulation.dataset import dataset_command, make_dataset

        for role, spec in self.recipe["datasets"].items():
            key = f"dataset:{role}"
            if self._done(key):
                continue
            t0 = time.time()
            out = self.root / spec["out"]
            args = {k: v for k, v in spec.items() if k not in ("out", "phantoms", "seed", "slices", "split")}
            make_dataset(out, spec["phantoms"], n_slices=spec.get("slices", 8), first_seed=spec["seed"],
                         split=spec.get("split", role), show_progress=False, **args)
            self._record(key, command=dataset_command(out), seconds=round(time.time() - t0, 1))
            self.log(f"dataset {role}: {dataset_command(out)}")

    def phases(self) -> None:
        import torch

        from .fit import Trainer

        for i, phase in enumerate(self.recipe["phases"]):
            key = f"phase:{phase['name']}"
            if self._done(key):
                continue
            cfg = phase_config(self.recipe, i, self.root)
            cfg["config_path"] = f"{self.path} (phase {phase['name']})"
            torch.set_num_threads(int(cfg.get("threads", torch.get_num_threads())))
            trainer = Trainer(cfg)
            trainer.fit(show_progress=False)
            best = torch.load(Path(cfg["run_dir"]) / "best.pt", map_location="cpu", weights_only=False)
            self._record(key, steps=cfg["steps"], select_by=cfg.get("select_by", "nrmse_percent"),
                         selected_step=best.get("step"), wall_s=round(trainer.wall_s, 1),
                         validation_at_selected=best.get("validation"))
            self.log(f"phase {phase['name']}: {cfg['steps']} steps, selected step {best.get('step')}")

    def export(self) -> Path:
        from .domain import measure_domain
        from .export import add_card_section, export_checkpoint

        spec = self.recipe["export"]
        out = self.root / spec.get("out", f"models/{self.recipe['name']}")
        if not self._done("export"):
            last = self.run_root / self.recipe["phases"][-1]["name"] / "best.pt"
            card = export_checkpoint(last, out, spec.get("name", "ct-harmonizer"), spec["version"],
                                     recipe=self.provenance())
            add_card_section(out, "domain", measure_domain(self.root / self.recipe["datasets"]["train"]["out"]))
            self._record("export", model=str(out), sha256=card["sha256"])
            self.log(f"exported {out}/model.ts sha256 {card['sha256']}")
        return out

    def evaluate(self, model_dir: Path) -> None:
        from evaluation.guard_calibration import calibrate
        from evaluation.guard_calibration import run as guard_run
        from evaluation.report import card_metrics, evaluate

        from .export import add_card_section, add_metrics

        if self._done("evaluate"):
            return
        t0 = time.time()
        held_out = self.root / self.recipe["datasets"].get("test", {}).get("out", "")
        metrics = {}
        if "test" in self.recipe["datasets"]:
            result = evaluate(held_out, {"H": model_dir / "model.ts"}, "test", None, 1)
            metrics = card_metrics(result, "H")
        external = self.recipe.get("evaluate", {}).get("external")
        if external and (self.root / external / "manifest.json").exists():
            ext = evaluate(self.root / external, {"H": model_dir / "model.ts"}, "test", None, 1)
            metrics.update({f"external_{k}": v for k, v in card_metrics(ext, "H").items() if k != "model_sha256"})
        elif external:
            metrics["external"] = f"not evaluated: {external} has not been rendered (make external-set)"
        val = self.root / self.recipe["datasets"]["val"]["out"]
        calibration = guard_run(val, "val", model_dir, False, progress=lambda line: None)
        add_card_section(model_dir, "guard", {
            "limits": calibrate(calibration["clean"]),
            "calibrated_on": f"{val} (val split), {calibration['series']} series",
            "command": f"python -m evaluation guard --model {model_dir} --val {val}"})
        card = json.loads((model_dir / "model_card.json").read_text())
        metrics.setdefault("model_sha256", card["sha256"])
        card["provenance"]["recipe"] = self.provenance()
        (model_dir / "model_card.json").write_text(json.dumps(card, indent=1) + "\n")
        add_metrics(model_dir, metrics)
        self._record("evaluate", seconds=round(time.time() - t0, 1))
        self.log(f"evaluated {model_dir}: {json.dumps(metrics)[:400]}")

    def provenance(self) -> dict:
        """What the card records: the one command, the recipe's sha256, seeds, dataset commands, phases."""
        steps = self.state["steps"]
        return {
            "command": f"python -m training recipe {self.path}",
            "sha256": self.sha256,
            "seed": self.recipe["base"].get("seed"),
            "datasets": {role: steps.get(f"dataset:{role}") for role in self.recipe["datasets"]},
            "phases": [{"name": p["name"], **(steps.get(f"phase:{p['name']}") or {})} for p in self.recipe["phases"]],
        }

    def run(self) -> Path:
        self.datasets()
        self.phases()
        model = self.export()
        self.evaluate(model)
        return model
