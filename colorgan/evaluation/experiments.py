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

import hashlib
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from colorgan.core import config as config_mod
from colorgan.core.devices import resolve_device
from colorgan.core.errors import ColorganError
from colorgan.evaluation import evaluate as eval_mod
from colorgan.evaluation.report import plot_curves, suite_markdown
from colorgan.io import atomic, modelfile
from colorgan.pipeline.loading import load_model
from colorgan.training import folders
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
def _state(run: Run) -> tuple[str, int]:
    """("new" | "partial" | "finished", the step reached)."""
    latest = modelfile.latest_checkpoint(run.out)
    step = json.loads((latest / "state.json").read_text())["step"] if latest else 0
    done = (run.out / modelfile.GENERATOR_FILE).is_file() and step >= run.cfg.train.steps
    return ("finished" if done else "partial" if latest else "new"), step


def _check_same_experiment(run: Run) -> None:
    saved = config_mod.load(str(run.out / "config.yaml")).to_dict()
    planned = run.cfg.to_dict()
    for key in train_mod.RESUME_CHANGEABLE:
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
        state, step = _state(run)
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
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    train_hashes = {_sha256(p) for p in found.train}
    dropped = [str(p) for p in files if _sha256(p) in train_hashes]
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


# --- reports -------------------------------------------------------------------------------
def _flags(pairs: dict) -> list[str]:
    """["--flag", "value", ...] for the values that are set; list values repeat the flag."""
    out = []
    for flag, value in pairs.items():
        for v in value if isinstance(value, list) else [value]:
            out += [flag, str(v)] if v not in (None, "") else []
    return out


def suite_command(args) -> list[str]:
    budget = {"--steps": args.steps} if args.steps else {"--minutes": args.minutes}
    return ["colorgan", "experiments", "--suite", args.suite] + _flags(
        {"--preset": args.preset or [], "--data": args.data, "--out": args.out, **budget,
         "--size": args.size, "--grid": args.grid, "--batch-size": args.batch_size,
         "--eval-data": args.eval_data, "--eval-size": args.eval_size, "--device": args.device,
         "--set": args.set, "--skip": args.skip}
    )  # fmt: skip


def train_command(run: Run, args) -> list[str]:
    c = run.cfg
    return ["colorgan", "train"] + _flags(
        {"--preset": run.preset, "--data": c.data.root, "--out": run.out, "--size": c.data.size,
         "--steps": c.train.steps, "--batch-size": c.train.batch_size, "--device": args.device,
         "--set": args.set}
    )  # fmt: skip


def evaluate_command(runs: list[Run], args, eval_list: Path, out: Path) -> list[str]:
    return ["colorgan", "evaluate"] + _flags(
        {"--model": ["gray"] + [r.out for r in runs], "--data": eval_list,
         "--size": args.eval_size or args.size, "--out": out, "--grid": args.grid,
         "--skip": args.skip}
    )  # fmt: skip


def _shell(cmd: list[str]) -> str:
    return "    " + " ".join(shlex.quote(c) for c in cmd)


def write_commands(out: Path, runs: list[Run], args) -> None:
    lines = [
        "# Reproducing this suite",
        "",
        "Everything at once (finished runs are skipped, unfinished ones resumed; a --minutes "
        "budget reuses the steps recorded in plan.json):",
        "",
        _shell(suite_command(args)),
        "",
        "The same, step by step (steps as recorded in plan.json):",
        "",
        *[_shell(train_command(run, args)) for run in runs],
        _shell(evaluate_command(runs, args, out / "eval_files.txt", out / "eval-again")),
        "",
        "`eval_files.txt` lists the held-out images evaluated, one path a line.",
    ]
    atomic.write_text(out / "commands.md", "\n".join(lines) + "\n")


# --- command line ------------------------------------------------------------------------------
def add_arguments(p) -> None:
    p.add_argument("--suite", default="literature", choices=sorted(SUITES))
    p.add_argument("--preset", action="append", help="train these presets instead (repeatable)")
    p.add_argument("--data", required=True, help="folder of colour training images")
    p.add_argument("--out", required=True, help="suite folder (reused: runs resume)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="training steps of each preset")
    budget.add_argument("--minutes", type=float, help="training minutes of each preset")
    p.add_argument("--size", type=int, default=256, help="training crop size (default 256)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--eval-data", help="held-out folder (default: the validation split)")
    p.add_argument("--eval-size", type=int, help="evaluation size (default: --size)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a config value for every preset (repeatable)",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=eval_mod.OPTIONAL,
        help="leave a slow metric out of the evaluation (repeatable)",
    )
    p.add_argument("--grid", type=int, default=8, help="images in eval/grid.png")
    p.add_argument(
        "--no-checkpoint-curves",
        action="store_true",
        help="do not evaluate the kept intermediate checkpoints",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, train nothing")


def print_plan(args) -> None:
    plan_file = Path(args.out) / "plan.json"
    saved = json.loads(plan_file.read_text())["steps"] if plan_file.is_file() else {}
    runs = build_runs(args, saved)
    print(f"suite {args.suite}: {len(runs)} presets into {args.out}")
    for run in runs:
        known = args.steps or saved.get(run.preset)
        steps = known or f"measured at start ({args.minutes} min)"
        state, step = _state(run) if known else ("new", 0)
        print(f"  {run.preset:20s} {run.cfg.model.generator:18s} steps {steps} ({state}, {step})")
        if known:  # with an unmeasured --minutes budget the step count is not known yet
            print("   " + _shell(train_command(run, args)).strip())
    held_out = args.eval_data or f"the validation split of {args.data}"
    print(
        f"then: evaluate on {held_out} at {args.eval_size or args.size} px; write "
        f"{args.out}/report.md, eval/, commands.md, curves"
    )


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


def run_cli(args) -> int:
    if args.size < 16 or (args.steps is not None and args.steps < 1):
        raise ColorganError("need --size >= 16 and --steps >= 1")
    if args.minutes is not None and args.minutes <= 0:
        raise ColorganError("--minutes must be > 0")
    if args.dry_run:
        print_plan(args)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = make_plan(args)
    atomic.write_text(out / "plan.json", json.dumps(plan, indent=1) + "\n")
    runs = build_runs(args, plan["steps"])
    files, split, _ = held_out_images(runs, args.eval_data)  # before training: fail early
    atomic.write_text(out / "eval_files.txt", "".join(f"{f}\n" for f in files))
    write_commands(out, runs, args)
    status = train_all(runs)
    report, plots = evaluate_suite(args, runs, status, files, split)
    rows = [
        (
            r.preset,
            r.cfg.model.generator,
            r.cfg.train.steps,
            plan["seconds_per_step"].get(r.preset),
            status[r.preset],
        )
        for r in runs
    ]
    suite = {
        "data": args.data,
        "size": args.size,
        "budget": plan["budget"],
        "split": split,
        "batch_size": runs[0].cfg.train.batch_size,
        "speed_steps": SPEED_STEPS,
    }
    atomic.write_text(out / "report.md", suite_markdown(suite, rows, report, plots))
    print(f"report: {out / 'report.md'}")
    return 0
