"""`colorgan train`: the command line of colorgan.training.train (a preset or config file,
overrides, resume)."""

from __future__ import annotations

from colorgan.core import config as config_mod
from colorgan.core.errors import ColorganError
from colorgan.training import distributed, resume, train


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help=f"one of: {', '.join(config_mod.list_presets())}")
    src.add_argument("--config", help="a YAML config file")
    p.add_argument("--data", help="folder of colour images (data.root)")
    p.add_argument("--out", required=True, help="run directory (created; never overwritten)")
    p.add_argument("--size", type=int, help="training crop size (data.size)")
    p.add_argument("--steps", type=int, help="total steps, both stages (train.steps)")
    p.add_argument("--batch-size", type=int, help="train.batch_size")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N (train.device)")
    p.add_argument("--workers", type=int, help="data loader workers (data.workers)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="any config value, e.g. --set loss.adv_type=lsgan (repeatable)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")


def _overrides(args) -> dict:
    flags = {
        "data.root": args.data,
        "data.size": args.size,
        "train.steps": args.steps,
        "train.batch_size": args.batch_size,
        "train.device": args.device,
        "data.workers": args.workers,
    }
    values = {k: v for k, v in flags.items() if v is not None}
    for text in args.set:
        section, key, value = config_mod.parse_override(text)
        values[f"{section}.{key}"] = value
    return values


def resolve_config(args) -> config_mod.Config:
    overrides = _overrides(args)
    if args.resume:
        if args.preset or args.config:
            raise ColorganError("--resume uses the run's saved config; drop --preset/--config")
        return resume.resumed_config(args.out, overrides)
    if not (args.preset or args.config):
        raise ColorganError("say what to train: --preset NAME or --config FILE")
    cfg = config_mod.with_overrides(config_mod.load(args.preset or args.config), overrides)
    if not cfg.data.root:
        raise ColorganError("no training data: pass --data DIR")
    return cfg


def run_cli(args) -> int:
    cfg = resolve_config(args)
    final = train.run(cfg, args.out, resume=args.resume)
    if distributed.is_main_process():
        print(f"trained generator: {final}")
    return 0
