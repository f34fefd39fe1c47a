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
from pathlib import Path, PurePath

from colorgan.core.errors import ColorganError
from colorgan.core.overlap import overlapped
from colorgan.interfaces import args as args_mod
from colorgan.io import images

log = logging.getLogger(__name__)

SUFFIX = "_color"
LIST_EACH_MAX = 20  # list every result for up to this many images, else only the summary
GLOB_CHARS = "*?["


@dataclass
class FileJob:
    src: Path
    out: Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    arg = parser.add_argument
    add_file_arguments(arg, "colorized")
    args_mod.add_model(arg)
    args_mod.add_size(arg)
    args_mod.add_tiles(arg)
    args_mod.add_colour(arg)
    args_mod.add_guidance(arg)
    args_mod.add_restore(arg)


def add_file_arguments(arg, default_output: str) -> None:
    """The inputs, output folder and file rules of a command that writes one result per image
    (colorize, restore): the same names, formats and guards for both."""
    arg(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files, folders, or globs (quote them: 'scans/**/*.tif')",
    )
    arg(
        "-o",
        "--output",
        default=default_output,
        metavar="OUT",
        help=f"output folder, created if needed (default: ./{default_output})",
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
        type=args_mod.positive_int,
        default=images.MAX_PIXELS,
        metavar="N",
        help=f"refuse images with more pixels (decompression-bomb guard; "
        f"default {images.MAX_PIXELS:,})",
    )


# --- inputs -> jobs ------------------------------------------------------------------------


def images_in(folder: Path, recursive: bool, exclude: Path | None) -> list[Path]:
    """Image files (by extension) in folder; hidden ones and earlier results under exclude
    (the output folder, when it lies inside an input folder) are left out."""
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(
        p
        for p in found
        if is_image_name(p.relative_to(folder))
        and not (exclude and p.resolve().is_relative_to(exclude))
        and p.is_file()
    )


def is_image_name(rel: PurePath) -> bool:
    """Whether a folder scan takes the file at rel (relative to the folder): an image by its
    extension, neither it nor a folder on the way hidden."""
    return rel.suffix.lower() in images.IMAGE_EXTENSIONS and not any(
        part.startswith(".") for part in rel.parts
    )


def result_name(rel: PurePath, fmt: str, suffix: str = SUFFIX) -> PurePath:
    """Where the result of the input at rel (relative to its root) goes, relative to the
    output folder: <relative folders>/<stem>_color.<ext> (colorgan restore: _restored)."""
    return rel.parent / f"{rel.stem}{suffix}{images.output_suffix(rel, fmt)}"


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
        found = images_in(path, recursive, exclude)
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
            if m.is_file() and m.suffix.lower() in images.IMAGE_EXTENSIONS
        ]
    raise ColorganError(f"{text}: no such file or folder")


def collect_jobs(inputs: list[str], out_dir: Path, recursive: bool, fmt: str, suffix: str = SUFFIX):
    """(jobs, errors): one job per distinct image; errors are one-line messages."""
    jobs: list[FileJob] = []
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
            jobs.append(FileJob(src, out_dir / result_name(src.relative_to(root), fmt, suffix)))
    return jobs, errors


def check_outputs(jobs: list[FileJob], overwrite: bool):
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


def reason(src, exc: BaseException) -> str:
    """Why src failed, in one line (without the name of src the message may start with)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    prefix = f"{src}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _one_line(src: Path, exc: BaseException) -> str:
    return f"error: {src}: {reason(src, exc)}"


def _load_colorizer(args):
    """(Colorizer, Guide): the model with the command's options, and the checked hints and
    reference (usage errors: a bad tile or hint is found before any photo is read)."""
    from colorgan.pipeline.colorizer import Colorizer  # the network: only when there is work

    colorizer = Colorizer.load(
        args.model, device=args.device, backend=args.backend, precision=args.precision
    )
    colorizer = colorizer.using(**args_mod.colour_options(args), restore=args.restore)
    return colorizer, colorizer.guide(args_mod.hints_from(args), args.reference)


def _check_guidance(args) -> None:
    """The hints and reference parsed and read without a model (usage errors), for a run
    that loads none because every result exists."""
    from colorgan.pipeline import guidance

    guidance.parse_hints(args_mod.hints_from(args))
    if args.reference is not None:
        guidance.reference_image(args.reference)


def run_jobs(jobs: list[FileJob], colorizer, guide, args) -> tuple[int, list[str], int]:
    """Colour every job; a failure is reported and the batch goes on.
    -> (done, errors, how many of them were a hint outside that image)."""
    from colorgan.pipeline.guidance import HintOutside

    def read(job: FileJob):
        return colorizer.read(job.src, max_pixels=args.max_pixels)

    def work(job: FileJob, read_result):
        photo, L = read_result
        return photo, L, colorizer.colour(L, guide)

    def write(job: FileJob, work_result) -> None:
        images.write_image(job.out, colorizer.finish(*work_result), overwrite=args.overwrite)

    done, errors, failed = run_each(jobs, read, work, write, "colorizing")
    return done, errors, sum(isinstance(exc, HintOutside) for exc in failed)


def run_each(jobs: list[FileJob], read, work, write, desc: str):
    """read, work and write every job; a failure is reported and the batch goes on.
    -> (done, error lines, the exceptions). Reading and decoding the next photo, the work on
    this one and encoding and writing the previous one overlap (colorgan.core.overlap);
    results, errors and the lines printed stay in the jobs' order."""
    done, errors, failed = 0, [], []
    verbose = len(jobs) <= LIST_EACH_MAX
    failures = (ColorganError, OSError, RuntimeError, ValueError, MemoryError)
    results = overlapped(jobs, read, work, write, failures)
    say = print
    if len(jobs) > 1:  # a progress bar (on a terminal); tqdm is imported only then (~50 ms)
        from tqdm import tqdm

        results = tqdm(
            results, total=len(jobs), unit="img", desc=desc, file=sys.stderr, disable=None
        )
        say = tqdm.write
    for job, exc in results:
        if exc is not None:
            failed.append(exc)
            errors.append(_one_line(job.src, exc))
            say(errors[-1], file=sys.stderr)
            continue
        done += 1
        if verbose:
            say(f"{job.src} -> {job.out}", file=sys.stdout)
    return done, errors, failed


def batch_jobs(args, suffix: str, what: str):
    """(output folder, jobs to run, skipped, failed so far) of a command's INPUTs, -o,
    --format, -r and --overwrite; None when every INPUT failed (each said why: exit 2).
    Errors found on the way are printed."""
    out_dir = Path(args.output).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise ColorganError(f"--output {out_dir}: exists and is not a folder")
    jobs, errors = collect_jobs(args.inputs, out_dir, args.recursive, args.format, suffix)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if not jobs:
        if errors:  # each missing input already has its line
            return None
        raise ColorganError(f"no images to {what} in " + ", ".join(args.inputs))
    jobs, skipped, clashes = check_outputs(jobs, args.overwrite)
    for line in clashes:
        print(f"error: {line}", file=sys.stderr)
    for job in skipped[:LIST_EACH_MAX]:
        print(f"skip: {job.src}: {job.out} exists (--overwrite replaces it)", file=sys.stderr)
    return out_dir, jobs, skipped, len(errors) + len(clashes)


def summary(verb: str, done: int, out_dir: Path, skipped: list, failed: int) -> str:
    return (
        f"{verb} {done} image{'s' * (done != 1)} into {out_dir}"
        + (f", {len(skipped)} skipped (results exist)" if skipped else "")
        + (f", {failed} failed" if failed else "")
    )


def run_cli(args: argparse.Namespace) -> int:
    planned = batch_jobs(args, SUFFIX, "colorize")
    if planned is None:
        return 2
    out_dir, jobs, skipped, failed = planned
    if not jobs:  # nothing to colour: a bad hint or reference is still the user's error
        _check_guidance(args)
    done, failures, outside = run_jobs(jobs, *_load_colorizer(args), args) if jobs else (0, [], 0)
    failed += len(failures)
    print(summary("colorized", done, out_dir, skipped, failed))
    if jobs and done == 0 and outside == len(jobs):  # the hints do not fit: a usage error
        return 2
    return 1 if failed else 0
