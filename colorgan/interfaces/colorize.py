"""`colorgan colorize`: colour photos, whole folders and globs, never touching the originals.

Output names are predictable: a file INPUT goes to OUT/<stem>_color.<ext>; files found in a
folder (or by a glob) keep their path relative to that folder (or the glob's fixed leading
folders): OUT/<relative folders>/<stem>_color.<ext>. Existing results are skipped unless
--overwrite; an input is never written over, --overwrite or not. A bad file prints
`error: <file>: <reason>` and the rest go on. Exit code: 0 all done (or skipped as done
before), 1 some failed (the summary says how many), 2 usage errors (bad arguments, no
images found, model not loadable).
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from colorgan.core.errors import ColorganError
from colorgan.io import images as imageio

log = logging.getLogger(__name__)

SUFFIX = "_color"
LIST_EACH_MAX = 20  # list every result for up to this many images, else only the summary
GLOB_CHARS = "*?["


@dataclass
class Job:
    src: Path
    out: Path


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not >= 1")
    return value


def _saturation(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (0 = gray, 1 = as predicted)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    _file_arguments(parser.add_argument)
    _colour_arguments(parser.add_argument)


def _file_arguments(arg) -> None:
    arg(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders, or globs (quote them: 'scans/**/*.tif')",
    )
    arg(
        "-o",
        "--output",
        default="colorized",
        metavar="OUT",
        help="output folder, created if needed (default: ./colorized)",
    )
    arg(
        "--model",
        default="default",
        help="'default' (the bundled model), a training run folder, a checkpoint folder or a "
        "generator .safetensors file",
    )
    arg("-r", "--recursive", action="store_true", help="also look in subfolders of folders")
    arg(
        "--format",
        choices=("png", "jpg", "same"),
        default="same",
        help="output format (default: same as the input; GIF and other formats become PNG)",
    )
    arg("--overwrite", action="store_true", help="replace existing results (never inputs)")
    arg(
        "--max-pixels",
        type=_positive_int,
        default=imageio.MAX_PIXELS,
        metavar="N",
        help=f"refuse images with more pixels (decompression-bomb guard; "
        f"default {imageio.MAX_PIXELS:,})",
    )


def _colour_arguments(arg) -> None:
    arg(
        "--size",
        type=_positive_int,
        metavar="N",
        help="working size: the network sees the photo with its long side at N pixels "
        "(default: the model's working size); colour is applied at full resolution",
    )
    arg(
        "--tile",
        type=_positive_int,
        metavar="N",
        help="also colour overlapping N-pixel tiles at the photo's own resolution (finer "
        "colour detail for big photos; N must be a multiple of the model's size multiple)",
    )
    arg("--stride", type=_positive_int, metavar="N", help="tile step (default: 3/4 of --tile)")
    arg(
        "--mode",
        choices=("single", "tiles", "hybrid"),
        help="single pass; tiles only; or hybrid = colour from the single pass, detail from "
        "tiles (default: single, or hybrid when --tile is given)",
    )
    arg(
        "--saturation",
        type=_saturation,
        default=1.0,
        metavar="X",
        help="scale the colour: 0 = gray, 1 = as predicted (default), >1 more colourful",
    )
    arg("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    arg(
        "--backend",
        default="auto",
        help="auto, torch or onnx; auto = ONNX Runtime on the CPU (measured faster), torch on CUDA",
    )


# --- inputs -> jobs ------------------------------------------------------------------------


def _images_in(folder: Path, recursive: bool, exclude: Path) -> list[Path]:
    """Image files (by extension) in folder; hidden ones and earlier results under exclude
    (the output folder, when it lies inside an input folder) are left out."""
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(
        p
        for p in found
        if p.suffix.lower() in imageio.IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and not p.resolve().is_relative_to(exclude)
        and p.is_file()
    )


def _glob_root(pattern: str) -> Path:
    """The fixed leading folders of a glob ('scans/19*/*.jpg' -> 'scans')."""
    parts = Path(pattern).parts
    first_glob = next(i for i, part in enumerate(parts) if _is_glob(part))
    return Path(*parts[:first_glob]) if first_glob else Path(".")


def _is_glob(text: str) -> bool:
    return any(c in text for c in GLOB_CHARS)


def _sources(text: str, recursive: bool, exclude: Path) -> list[tuple[Path, Path]]:
    """(file, root it is named relative to) for one INPUT argument."""
    path = Path(text).expanduser()
    if path.is_file():
        return [(path, path.parent)]
    if path.is_dir():
        found = _images_in(path, recursive, exclude)
        if not found:
            log.warning(
                "%s: no images in this folder%s",
                path,
                "" if recursive else " (use --recursive for subfolders)",
            )
        return [(f, path) for f in found]
    if _is_glob(text):
        root = _glob_root(str(path))
        matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
        return [
            (m, root)
            for m in matches
            if m.is_file() and m.suffix.lower() in imageio.IMAGE_EXTENSIONS
        ]
    raise ColorganError(f"{text}: no such file or folder")


def collect_jobs(inputs: list[str], out_dir: Path, recursive: bool, fmt: str):
    """(jobs, errors): one job per distinct image; errors are one-line messages."""
    jobs: list[Job] = []
    errors: list[str] = []
    exclude = out_dir.resolve()
    seen: set[Path] = set()
    for text in inputs:
        try:
            found = _sources(text, recursive, exclude)
        except ColorganError as exc:
            errors.append(str(exc))
            continue
        if not found and _is_glob(text):
            errors.append(f"{text}: matched no images")
        for src, root in found:
            if src.resolve() in seen:
                continue
            seen.add(src.resolve())
            rel = src.relative_to(root)
            name = f"{rel.stem}{SUFFIX}{imageio.output_suffix(src, fmt)}"
            jobs.append(Job(src, out_dir / rel.parent / name))
    return jobs, errors


def check_outputs(jobs: list[Job], overwrite: bool):
    """(jobs to run, skipped, errors): never onto an input, never two onto one file."""
    inputs = {job.src.resolve() for job in jobs}
    claimed: dict[Path, Path] = {}
    run, skipped, errors = [], [], []
    for job in jobs:
        out = job.out.resolve()
        if out in inputs:
            errors.append(f"{job.src}: its output {job.out} is one of the inputs; not written")
        elif out in claimed:
            errors.append(f"{job.src}: output {job.out} is also {claimed[out]}'s; not written")
        elif out.exists() and not overwrite:
            skipped.append(job)
        else:
            claimed[out] = job.src
            run.append(job)
    return run, skipped, errors


# --- running -------------------------------------------------------------------------------


def _one_line(src: Path, exc: BaseException) -> str:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    prefix = f"{src}: "
    return f"error: {src}: {reason[len(prefix) :] if reason.startswith(prefix) else reason}"


def _load_colorizer(args):
    from colorgan.pipeline.colorizer import (
        Colorizer,  # torch is imported only when there is work to do
    )

    colorizer = Colorizer.load(
        args.model, device=args.device, working_size=args.size, backend=args.backend
    )
    colorizer.plan(args.mode, args.tile, args.stride)  # bad tile/stride: a usage error, now
    return colorizer


def run_jobs(jobs: list[Job], colorizer, args) -> tuple[int, list[str]]:
    """Colour every job; a failure is reported and the batch goes on. -> (done, errors)."""
    done, errors = 0, []
    verbose = len(jobs) <= LIST_EACH_MAX
    for job in tqdm(jobs, unit="img", desc="colorizing", file=sys.stderr, disable=None):
        try:
            photo = imageio.read_image(job.src, max_pixels=args.max_pixels)
            result = colorizer.colorize(
                photo, args.saturation, tile=args.tile, stride=args.stride, mode=args.mode
            )
            imageio.write_image(job.out, result, overwrite=args.overwrite)
        except (ColorganError, OSError, RuntimeError, ValueError, MemoryError) as exc:
            errors.append(_one_line(job.src, exc))
            tqdm.write(errors[-1], file=sys.stderr)
            continue
        done += 1
        if verbose:
            tqdm.write(f"{job.src} -> {job.out}", file=sys.stdout)
    return done, errors


def run_cli(args: argparse.Namespace) -> int:
    out_dir = Path(args.output).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise ColorganError(f"--output {out_dir}: exists and is not a folder")
    jobs, errors = collect_jobs(args.inputs, out_dir, args.recursive, args.format)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if not jobs:
        if errors:  # each missing input already has its line
            return 2
        raise ColorganError("no images to colorize in " + ", ".join(args.inputs))
    jobs, skipped, clashes = check_outputs(jobs, args.overwrite)
    for line in clashes:
        print(f"error: {line}", file=sys.stderr)
    for job in skipped[:LIST_EACH_MAX]:
        print(f"skip: {job.src}: {job.out} exists (--overwrite replaces it)", file=sys.stderr)
    done, failures = run_jobs(jobs, _load_colorizer(args), args) if jobs else (0, [])
    failed = len(errors) + len(clashes) + len(failures)
    print(
        f"colorized {done} image{'s' * (done != 1)} into {out_dir}"
        + (f", {len(skipped)} skipped (results exist)" if skipped else "")
        + (f", {failed} failed" if failed else "")
    )
    return 1 if failed else 0
