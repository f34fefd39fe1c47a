"""`colorgan experiments`: train a suite of presets on one dataset under one budget, then
evaluate them together on held-out images (colorgan.evaluation.experiments does the work).

The commands written into OUT/commands.md (and printed by --dry-run) are built from the
train, evaluate and experiments commands' own parsers (interfaces.args.command_line) and
parsed back by them, so they cannot drift from the options those commands take.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from colorgan.evaluation import evaluate as eval_mod
from colorgan.evaluation import experiments as ex
from colorgan.evaluation.report import suite_markdown
from colorgan.interfaces import args as args_mod
from colorgan.interfaces import evaluate as evaluate_cli
from colorgan.interfaces import train as train_cli
from colorgan.io import atomic


def add_arguments(p) -> None:
    arg, number = p.add_argument, args_mod.number
    arg("--suite", default="literature", choices=sorted(ex.SUITES))
    arg("--preset", action="append", help="train these presets instead (repeatable)")
    arg("--data", required=True, help="folder of colour training images")
    arg("--out", required=True, help="suite folder (reused: runs resume)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=args_mod.positive_int, help="training steps per preset")
    budget.add_argument("--minutes", type=number(float, 0.001), help="training minutes each")
    arg("--size", type=number(int, 16), default=256, help="training crop size (default 256)")
    arg("--batch-size", type=args_mod.positive_int)
    arg("--eval-data", help="held-out folder (default: the validation split)")
    arg("--eval-size", type=number(int, 16), help="evaluation size (default: --size)")
    arg("--device", help="auto, cpu, cuda, cuda:N")
    arg(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a config value for every preset (repeatable)",
    )
    arg(
        "--skip",
        action="append",
        default=[],
        choices=eval_mod.OPTIONAL,
        help="leave a slow metric out of the evaluation (repeatable)",
    )
    arg("--grid", type=number(int, 0), default=8, help="images in eval/grid.png")
    arg(
        "--no-checkpoint-curves",
        action="store_true",
        help="do not evaluate the kept intermediate checkpoints",
    )
    arg("--dry-run", action="store_true", help="print the plan, train nothing")


# --- the commands that reproduce a suite ---------------------------------------------------
def suite_command(args) -> list[str]:
    keys = [
        "suite",
        "preset",
        "data",
        "out",
        "steps",
        "minutes",
        "size",
        "grid",
        "batch_size",
        "eval_data",
        "eval_size",
        "device",
        "set",
        "skip",
    ]
    values = {k: getattr(args, k) for k in keys}
    if args.steps:
        values["minutes"] = None
    return args_mod.command_line(add_arguments, ["colorgan", "experiments"], values)


def train_command(run: ex.Run, args) -> list[str]:
    c = run.cfg
    values = {
        "preset": run.preset,
        "data": c.data.root,
        "out": run.out,
        "size": c.data.size,
        "steps": c.train.steps,
        "batch_size": c.train.batch_size,
        "device": args.device,
        "set": args.set,
    }
    return args_mod.command_line(train_cli.add_arguments, ["colorgan", "train"], values)


def evaluate_command(runs: list[ex.Run], args, eval_list: Path, out: Path) -> list[str]:
    values = {
        "model": ["gray"] + [r.out for r in runs],
        "data": eval_list,
        "size": args.eval_size or args.size,
        "out": out,
        "grid": args.grid,
        "skip": args.skip,
    }
    return args_mod.command_line(evaluate_cli.add_arguments, ["colorgan", "evaluate"], values)


def _shell(cmd: list[str]) -> str:
    return "    " + " ".join(shlex.quote(str(c)) for c in cmd)


def write_commands(out: Path, runs: list[ex.Run], args) -> None:
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


# --- running -------------------------------------------------------------------------------
def print_plan(args) -> None:
    plan_file = Path(args.out) / "plan.json"
    saved = json.loads(plan_file.read_text())["steps"] if plan_file.is_file() else {}
    runs = ex.build_runs(args, saved)
    print(f"suite {args.suite}: {len(runs)} presets into {args.out}")
    for run in runs:
        known = args.steps or saved.get(run.preset)
        steps = known or f"measured at start ({args.minutes} min)"
        state, step = ex.run_state(run) if known else ("new", 0)
        print(f"  {run.preset:20s} {run.cfg.model.generator:18s} steps {steps} ({state}, {step})")
        if known:  # with an unmeasured --minutes budget the step count is not known yet
            print("   " + _shell(train_command(run, args)).strip())
    held_out = args.eval_data or f"the validation split of {args.data}"
    print(
        f"then: evaluate on {held_out} at {args.eval_size or args.size} px; write "
        f"{args.out}/report.md, eval/, commands.md, curves"
    )


def run_cli(args) -> int:
    if args.dry_run:
        print_plan(args)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan = ex.make_plan(args)
    atomic.write_text(out / "plan.json", json.dumps(plan, indent=1) + "\n")
    runs = ex.build_runs(args, plan["steps"])
    files, split, _ = ex.held_out_images(runs, args.eval_data)  # before training: fail early
    atomic.write_text(out / "eval_files.txt", "".join(f"{f}\n" for f in files))
    write_commands(out, runs, args)
    status = ex.train_all(runs)
    report, plots = ex.evaluate_suite(args, runs, status, files, split)
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
        "speed_steps": ex.SPEED_STEPS,
    }
    atomic.write_text(out / "report.md", suite_markdown(suite, rows, report, plots))
    print(f"report: {out / 'report.md'}")
    return 0
