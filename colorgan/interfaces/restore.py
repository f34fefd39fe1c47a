"""`colorgan restore`: repair scratches, dust, grain and fading in old photos (no colour).

The same inputs, output names, formats and error rules as `colorgan colorize` (its code):
a file INPUT goes to OUT/<stem>_restored.<ext>, gray, at the photo's size; --save-mask also
writes OUT/<stem>_restored_mask.png (white: the pixels filled). Existing results are
skipped unless --overwrite; an input is never written over. Exit code: 0 all done, 1 some
failed, 2 usage errors.
"""

from __future__ import annotations

import argparse
import logging

from PIL import Image

from colorgan.interfaces import args as args_mod
from colorgan.interfaces import colorize
from colorgan.io import images

log = logging.getLogger(__name__)
SUFFIX = "_restored"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    arg = parser.add_argument
    colorize.add_file_arguments(arg, "restored")
    arg(
        "--steps",
        type=args_mod.repair_steps,
        default="default",
        metavar="STEPS",
        help="which repairs, comma-separated, of scratches,dust,grain,fading, or 'all' "
        "(default: all four, each only where it finds its damage: docs/restore.md)",
    )
    arg("--save-mask", action="store_true", help="also write the mask of the pixels filled")


def run_jobs(jobs: list, args) -> tuple[int, list[str]]:
    from colorgan.core.fastcolor import lightness
    from colorgan.pipeline import restore

    restore.load_networks(args.steps)  # a missing or damaged network: a usage error, now

    def read(job):
        photo = images.read_image(job.src, max_pixels=args.max_pixels)
        return photo, lightness(photo.pixels)

    def work(job, read_result):
        photo, L = read_result
        return photo, restore.repair(L, args.steps)

    def write(job, work_result) -> None:
        photo, fixed = work_result
        if args.save_mask:
            mask = Image.fromarray(fixed.mask.astype("uint8") * 255, "L")
            images.write_image(mask_path(job.out), mask, overwrite=args.overwrite)
        image = restore.gray_image(fixed.L, photo)
        images.write_image(job.out, image, overwrite=args.overwrite)
        log.info("%s: %s", job.src, fixed.summary())  # what was repaired, pixels filled

    done, errors, _ = colorize.run_each(jobs, read, work, write, "restoring")
    return done, errors


def mask_path(out):
    return out.with_name(f"{out.stem}_mask.png")


def run_cli(args: argparse.Namespace) -> int:
    planned = colorize.batch_jobs(args, SUFFIX, "restore")
    if planned is None:
        return 2
    out_dir, jobs, skipped, failed = planned
    done, errors = run_jobs(jobs, args) if jobs else (0, [])
    failed += len(errors)
    print(colorize.summary("restored", done, out_dir, skipped, failed))
    return 1 if failed else 0
