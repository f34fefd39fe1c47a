"""`colorgan export`: a generator as a self-describing ONNX file.

    colorgan export runs/my_model --format onnx -o my_model.onnx

What the file holds and how it is checked: colorgan.pipeline.export.
"""

from __future__ import annotations

from pathlib import Path

from colorgan.core.errors import ColorganError
from colorgan.io import atomic
from colorgan.pipeline.export import DEFAULT_OPSET, ExportReport, to_onnx
from colorgan.pipeline.loading import load_generator


def export_file(model, out, opset: int = DEFAULT_OPSET, force: bool = False) -> ExportReport:
    """Export `model` to the file `out` (written whole, then renamed: never half a file)."""
    out = Path(out).expanduser()
    if out.exists() and not force:
        raise ColorganError(f"{out} exists; choose another -o or pass --force to replace it")
    if not out.parent.is_dir():
        raise ColorganError(f"-o {out}: folder {out.parent} does not exist")
    generator, cfg = load_generator(model)
    report = to_onnx(generator, cfg, opset)
    try:
        atomic.write_bytes(out, report.model, overwrite=force)
    except atomic.TargetExists:  # appeared while it was exported
        message = f"{out} exists; choose another -o or pass --force to replace it"
        raise ColorganError(message) from None
    return report


def add_arguments(p) -> None:
    p.add_argument("model", help='"default", a run dir, a checkpoint dir or a .safetensors')
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format")
    p.add_argument("-o", "--output", required=True, help="file to write (e.g. model.onnx)")
    p.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    p.add_argument("--force", action="store_true", help="replace --output if it exists")


def run_cli(args) -> int:
    report = export_file(args.model, args.output, args.opset, args.force)
    size_mb = len(report.model) / 1e6
    print(f"wrote {args.output} ({size_mb:.1f} MB): {report.summary()}")
    return 0
