"""`colorgan experiments`: train a suite of presets on one dataset under one budget, then
evaluate them together on held-out images with `colorgan evaluate`'s protocol.

OUT/ layout:
  plan.json            presets, steps each (a --minutes budget is converted once, measured,
                       then reused: a rerun trains exactly the same steps), data, split
  runs/<preset>/       one `colorgan train` run each; a finished run is skipped, an
                       unfinished one resumed from its last checkpoint
  eval/                report.md, report.json, per_image.csv, grid.png of the final models
  report.md            the suite: budget, runs, held-out split, the table, the curves
  loss_curves.png, val_curves.png, checkpoint_curves.png
  commands.md          the exact commands that reproduce every number
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from colorgan.core import config as config_mod
from colorgan.core.devices import resolve_device
from colorgan.core.errors import ColorganError
from colorgan.evaluation import evaluate as eval_mod
from colorgan.evaluation.report import plot_curves
from colorgan.io import modelfile
from colorgan.io.checksum import file_sha256
from colorgan.pipeline.loading import load_model
from colorgan.training import folders
from colorgan.training import resume as resume_mod
from colorgan.training import train as train_mod

SUITES = {
    # the colorization literature's comparisons, one preset each (see colorgan/presets/)
    "literature": [
        "pix2pix-unet",  # U-Net + L1 + GAN (Isola et al.), the Lab baseline
        "unet-l1-pretrain",  # the same with the two-stage schedule (L1 first, then GAN)
        "unet-perceptual",
        "unet-perceptual-l1",
        "resnet-nodown",
        "residual-unet",
        "residual-unet-up",
        "pretrained-unet",  # ImageNet encoder, L1 pretraining then GAN
        "encoder-decoder",
        "rgb-unet",  # vs pix2pix-unet: predicting RGB instead of ab
    ],
}
SPEED_STEPS = 3  # timed GAN steps per preset when converting --minutes into steps
LOG_KEYS_NOT_LOSSES = {"img_per_s", "data_share"}
CHECKPOINT_METRICS = ("mae_ab", "psnr", "ciede2000")


@dataclass
class Run:
    preset: str
    cfg: config_mod.Config
    out: Path


def build_runs(args, steps: dict[str, int] | None = None) -> list[Run]:
    """One config per preset: the preset, then the suite's shared settings, then --set."""
    presets = args.preset or SUITES[args.suite]
    common = {"data.root": str(args.data), "data.size": args.size}
    if args.batch_size:
        common["train.batch_size"] = args.batch_size
    if args.device:
        common["train.device"] = args.device
    runs = []
    for preset in presets:
        cfg = config_mod.with_overrides(config_mod.load(preset), common)
        cfg = config_mod.with_overrides(cfg, args.set)
        n = args.steps or (steps or {}).get(preset)
        if n:
            cfg = config_mod.with_overrides(cfg, {"train.steps": n})
        runs.append(Run(preset, cfg, Path(args.out) / "runs" / preset))
    return runs


def measure_step_seconds(cfg: config_mod.Config) -> float:
    """Seconds per GAN step (the costlier stage) on random batches, after one warm-up step;
    data loading is left out (the loader's workers overlap it with the step)."""
    device = resolve_device(cfg.train.device)
    parts = train_mod.build_parts(cfg, device)
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(cfg.train.batch_size, 3, cfg.data.size, cfg.data.size, generator=gen)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    train_mod.train_step(parts, rgb, "gan")
    sync()
    start = time.perf_counter()
    for _ in range(SPEED_STEPS):
        train_mod.train_step(parts, rgb, "gan")
    sync()
    return (time.perf_counter() - start) / SPEED_STEPS


def make_plan(args) -> dict:
    """Steps per preset: --steps as given, or --minutes converted once by measuring each
    preset's speed; kept in plan.json, so a rerun with the same budget trains the same steps."""
    presets = args.preset or SUITES[args.suite]
    budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes}
    plan = {"budget": budget, "steps": {}, "seconds_per_step": {}}
    plan_file = Path(args.out) / "plan.json"
    if plan_file.is_file():
        saved = json.loads(plan_file.read_text())
        if saved.get("budget") == budget:
            plan = saved
    for run in build_runs(args, {p: 1 for p in presets}):
        if run.preset in plan["steps"]:
            continue
        if args.steps:
            plan["steps"][run.preset] = args.steps
            continue
        seconds = measure_step_seconds(run.cfg)
        plan["seconds_per_step"][run.preset] = seconds
        plan["steps"][run.preset] = max(1, int(args.minutes * 60 / seconds))
        print(f"{run.preset}: {seconds:.3f} s/step -> {plan['steps'][run.preset]} steps")
    return plan


# --- training ------------------------------------------------------------------------------
def run_state(run: Run) -> tuple[str, int]:
    """("new" | "partial" | "finished", the step reached)."""
    latest = modelfile.latest_checkpoint(run.out)
    step = json.loads((latest / "state.json").read_text())["step"] if latest else 0
    done = (run.out / modelfile.GENERATOR_FILE).is_file() and step >= run.cfg.train.steps
    return ("finished" if done else "partial" if latest else "new"), step


def _check_same_experiment(run: Run) -> None:
    saved = config_mod.load(str(run.out / "config.yaml")).to_dict()
    planned = run.cfg.to_dict()
    for key in resume_mod.RESUME_CHANGEABLE:
        section, name = key.split(".")
        saved[section].pop(name)
        planned[section].pop(name)
    if saved != planned:
        raise ColorganError(
            f"{run.out} was trained with another config than this suite now asks for; "
            f"use another --out (or the same options as before)"
        )


def train_all(runs: list[Run]) -> dict[str, str]:
    """Train what is missing; a preset that fails (e.g. weights it needs are not here) is
    reported and left out of the evaluation, the others go on."""
    status = {}
    for i, run in enumerate(runs, 1):
        state, step = run_state(run)
        print(f"[{i}/{len(runs)}] {run.preset}: {state} ({step}/{run.cfg.train.steps} steps)")
        if state == "finished":
            status[run.preset] = f"finished earlier ({step} steps)"
            continue
        try:
            if state == "partial":
                _check_same_experiment(run)
            else:  # a start killed before its first checkpoint: its log is all it left
                (run.out / "log.jsonl").unlink(missing_ok=True)
            train_mod.run(run.cfg, run.out, resume=state == "partial")
        except ColorganError as exc:
            print(f"error: {run.preset}: {exc}", file=sys.stderr)
            status[run.preset] = f"failed: {exc}"
            continue
        status[run.preset] = f"resumed at step {step}" if state == "partial" else "trained"
    return status


# --- the held-out images -------------------------------------------------------------------
def held_out_images(runs: list[Run], eval_data: str | None) -> tuple[list[Path], str, list]:
    """(images to evaluate, how they were kept from training, dropped duplicates).

    The training files are those of the data module's split (the one train.run uses); any
    evaluation file whose bytes equal a training file's is dropped and listed.
    """
    split_keys = {(r.cfg.data.root, r.cfg.data.val_fraction, r.cfg.data.split_seed) for r in runs}
    if len(split_keys) > 1:
        raise ColorganError("the presets of one suite must share data.root/val_fraction/seed")
    found = folders.scan_folder(runs[0].cfg.data)
    d = runs[0].cfg.data
    if eval_data:
        files = folders.find_images(eval_data)
        how = f"a separate folder, {eval_data} ({len(files)} images)"
    else:
        files = list(found.val)
        how = (
            f"the validation split of {d.root}: data.val_fraction={d.val_fraction}, "
            f"split_seed={d.split_seed}, split by source image (training.folders.split_files); "
            f"{len(files)} images, none of them trained on"
        )
    if not files:
        raise ColorganError(
            "no held-out images: pass --eval-data DIR or set data.val_fraction > 0 (--set)"
        )
    train_hashes = {file_sha256(p) for p in found.train}
    dropped = [str(p) for p in files if file_sha256(p) in train_hashes]
    files = [p for p in files if str(p) not in set(dropped)]
    how += f"; {len(dropped)} byte-identical to a training file and left out (sha256)"
    if not files:
        raise ColorganError("every evaluation image is also a training image")
    return files, how, dropped


# --- curves ----------------------------------------------------------------------------------
def read_log(run_dir: Path) -> dict[str, dict[str, tuple[list, list]]]:
    """{kind: {key: (steps, values)}} from log.jsonl; a step logged twice (before and after a
    resume) keeps its last value."""
    records: dict[tuple[str, int], dict] = {}
    log_file = run_dir / "log.jsonl"
    lines = log_file.read_text().splitlines() if log_file.is_file() else []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:  # a line cut off by a kill
            continue
        records[(rec.get("kind", "train"), rec["step"])] = rec
    out: dict[str, dict[str, tuple[list, list]]] = {}
    for (kind, step), rec in sorted(records.items(), key=lambda kv: kv[0][1]):
        for key, value in rec.items():
            if key in ("step", "kind") or key in LOG_KEYS_NOT_LOSSES:
                continue
            steps, values = out.setdefault(kind, {}).setdefault(key, ([], []))
            steps.append(step)
            values.append(value)
    return out


def checkpoint_curves(runs, files, settings) -> dict[str, dict[str, tuple[list, list]]]:
    """Pixel metrics of every kept checkpoint of every run (cheap: no feature networks)."""
    quick = eval_mod.EvalSettings(**{**settings.__dict__, "grid": 0, "skip": eval_mod.OPTIONAL})
    series: dict[str, dict[str, tuple[list, list]]] = {}
    for run in runs:
        for ckpt in sorted((run.out / "checkpoints").glob("step_*")):
            model = load_model(ckpt, "torch", settings.device)
            cand = eval_mod.from_model(run.preset, model, str(ckpt))
            rep = eval_mod.evaluate(files, [cand], quick, run.out, networks={}, write=False)
            step = int(ckpt.name.split("_")[1])
            for key in CHECKPOINT_METRICS:
                steps, values = series.setdefault(run.preset, {}).setdefault(key, ([], []))
                steps.append(step)
                values.append(rep["models"][0]["metrics"][key])
    return series


def write_plots(out: Path, runs: list[Run], ckpt_series: dict) -> list[str]:
    logs = {run.preset: read_log(run.out) for run in runs}
    made = []
    pictures = [
        ("loss_curves.png", {p: lg.get("train", {}) for p, lg in logs.items()}, "training"),
        ("val_curves.png", {p: lg.get("val", {}) for p, lg in logs.items()}, "validation"),
        ("checkpoint_curves.png", ckpt_series, "held-out metrics at kept checkpoints"),
    ]
    for name, series, title in pictures:
        if plot_curves(out / name, series, title):
            made.append(name)
    return made


def evaluate_suite(args, runs: list[Run], status: dict, files: list[Path], split: str):
    """The final generators (and the gray baseline) on the held-out images, and the curves."""
    trained = [run for run in runs if not status[run.preset].startswith("failed")]
    if not trained:
        raise ColorganError("no preset could be trained; see the errors above")
    device = str(resolve_device(args.device or "auto"))
    settings = eval_mod.EvalSettings(
        size=args.eval_size or args.size,
        grid=args.grid,
        device=device,
        skip=tuple(args.skip),
        dataset=str(args.eval_data or args.data),
        split=split,
    )
    candidates = [eval_mod.load_candidate("gray", device)]
    for run in trained:
        model = load_model(run.out, "torch", device)
        candidates.append(eval_mod.from_model(run.preset, model, str(run.out)))
    report = eval_mod.evaluate(files, candidates, settings, Path(args.out) / "eval", overwrite=True)
    series = {} if args.no_checkpoint_curves else checkpoint_curves(trained, files, settings)
    return report, write_plots(Path(args.out), trained, series)
