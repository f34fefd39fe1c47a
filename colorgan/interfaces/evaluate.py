"""`colorgan evaluate`: several models on the same images under one fixed protocol
(colorgan.evaluation.evaluate), optionally with simulated user hints or the photo's own
colours as the reference (colorgan.evaluation.simulated_hints).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from colorgan.core.devices import resolve_device
from colorgan.core.errors import ColorganError
from colorgan.evaluation import evaluate as ev
from colorgan.evaluation.report import markdown
from colorgan.interfaces import args as args_mod
from colorgan.pipeline import options
from colorgan.training.folders import find_images


def add_arguments(p) -> None:
    arg, number = p.add_argument, args_mod.number
    arg(
        "--model",
        action="append",
        required=True,
        metavar="M",
        help="a run dir, checkpoint dir, .safetensors or .onnx file, or gray / truth / default "
        "(repeatable)",
    )
    arg("--data", required=True, help="folder of colour ground-truth images, or a .txt list")
    arg("--size", type=number(int, 16), default=256, help="evaluation crop size (default 256)")
    arg("--out", help="report folder (default: eval-YYYYmmdd-HHMMSS)")
    arg("--grid", type=number(int, 0), default=8, help="images in grid.png (first N; 0: none)")
    arg(
        "--eps",
        type=float,
        nargs="+",
        default=[0.02, 0.05],
        help="thresholds of acc ab, normalised ab units (default 0.02 0.05)",
    )
    arg("--batch-size", type=args_mod.positive_int, default=8)
    arg("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    arg("--skip", action="append", default=[], choices=ev.OPTIONAL, help="leave out a slow metric")
    arg(
        "--lpips-weights",
        default="imagenet",
        help="local VGG16 state dict for LPIPS (default: torch hub cache/download)",
    )
    arg("--fid-weights", help="local Inception file of torch-fidelity for FID")
    _guidance_arguments(arg, number)


def _guidance_arguments(arg, number) -> None:
    arg(
        "--hints",
        type=number(int, 0),
        default=0,
        metavar="N",
        help="guided models: N simulated user hints per photo, patches of the truth's mean "
        "colour (SIGGRAPH 2017's protocol)",
    )
    arg("--hint-seed", type=int, default=0, metavar="S", help="seed of the hint positions")
    arg("--hint-size", type=number(int, 1, 64), default=6, metavar="P", help="hint patch side")
    arg(
        "--reference",
        choices=["self"],
        help="guided models: 'self' gives each photo its own ground truth as the reference",
    )
    args_mod.add_option(arg, options.VIVIDNESS)
    arg(
        "--temperature",
        type=number(float, 0.01, 10.0),
        metavar="T",
        help="distribution-head models: the decoding's temperature, replacing the model's "
        "own (model.temperature; scripts/choose_temperature.py sweeps it)",
    )


def input_files(data: str) -> list[Path]:
    """A folder (all images under it), or a .txt file listing images one a line (the list
    `colorgan experiments` writes of its held-out images)."""
    path = Path(data).expanduser()
    if path.is_file() and path.suffix == ".txt":
        lines = [line.strip() for line in path.read_text().splitlines()]
        files = [Path(line) for line in lines if line and not line.startswith("#")]
        if not files:
            raise ColorganError(f"{path}: lists no images")
        return files
    return find_images(path)


def run_cli(args) -> int:
    device = resolve_device(args.device)
    files = input_files(args.data)
    candidates = [ev.load_candidate(spec, device) for spec in args.model]
    if len({c.name for c in candidates}) < len(candidates):
        raise ColorganError("the same --model is given twice")
    out = Path(args.out or datetime.now().strftime("eval-%Y%m%d-%H%M%S"))
    settings = ev.EvalSettings(
        size=args.size,
        eps=tuple(args.eps),
        grid=args.grid,
        batch_size=args.batch_size,
        device=str(device),
        skip=tuple(args.skip),
        lpips_weights=args.lpips_weights,
        fid_weights=args.fid_weights,
        dataset=str(args.data),
        hints=args.hints,
        hint_seed=args.hint_seed,
        hint_size=args.hint_size,
        reference=args.reference,
        vividness=args.vividness,
        temperature=args.temperature,
    )
    ev.check_guidance(candidates, settings)  # before the images are read
    report = ev.evaluate(files, candidates, settings, out)
    print(markdown(report))
    print(f"report: {out / 'report.md'}")
    return 0
