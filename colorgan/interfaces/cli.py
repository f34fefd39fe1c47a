"""`colorgan` command line: argument parsing and dispatch only.

Each command lives in its own module as `add_arguments(parser)` and `run_cli(args) -> int`;
modules are imported only when their command runs, so `colorgan --help` stays fast and a
missing optional dependency only affects its own command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

from colorgan.core import extras
from colorgan.core.errors import ColorganError
from colorgan.core.interrupts import deferred_interrupts

# command -> (module, one-line help)
COMMANDS = {
    "colorize": ("colorgan.interfaces.colorize", "colorize photos (files, folders, globs)"),
    "batch": (
        "colorgan.interfaces.batch",
        "colorize an archive on Ray, resumable, with a manifest",
    ),
    "restore": ("colorgan.interfaces.restore", "repair scratches, dust, grain and fading"),
    "train": ("colorgan.interfaces.train", "train a generator from a preset or config"),
    "evaluate": ("colorgan.interfaces.evaluate", "compare models on an image folder"),
    "evaluate-restore": (
        "colorgan.interfaces.evaluate_restore",
        "the repair on synthetic damage (PSNR, SSIM, detector F1)",
    ),
    "experiments": ("colorgan.interfaces.experiments", "train and evaluate a suite of presets"),
    "data": ("colorgan.datasets.offline_photos", "build training data (offline-photos)"),
    "serve": ("colorgan.interfaces.web.server", "web page and REST API"),
    "export": ("colorgan.interfaces.export", "export a generator (ONNX)"),
    "video": ("colorgan.interfaces.video", "colorize a video without flicker"),
}


def _load(name: str):
    module, _ = COMMANDS[name]
    try:
        with deferred_interrupts():  # Ctrl-C after the native libraries finished loading
            return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("colorgan"):
            raise ColorganError(f"command {name!r} is not available in this version") from None
        raise  # a missing extra: main says which to install


def _first_to_fail() -> bool:
    """Whether this process reports its error: always, except under torchrun, where only the
    first rank to fail does (colorgan.training.distributed.first_to_fail)."""
    if not all(v in os.environ for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")):
        return True
    from colorgan.training import distributed  # torch: only in a torchrun process

    return distributed.first_to_fail()


class Parser(argparse.ArgumentParser):
    """argparse's parser with a one-line usage error (exit 2): the bad value and where the
    help is, not the whole usage block above it. Subcommands' parsers are of this class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command(argv: list[str]) -> str:
    return next((a for a in argv if a in COMMANDS), "")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = Parser(prog="colorgan", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = _command(argv)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, allow_abbrev=False)  # --hint is not --hints
        if name == wanted:  # only the command that runs imports its module
            _load(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(levelname)s: %(message)s",
        )
        if args.command is None:
            parser.print_help()
            return 2
        return _load(args.command).run_cli(args)
    except (ColorganError, ModuleNotFoundError) as exc:
        if isinstance(exc, ModuleNotFoundError):  # the light install lacks an extra: which
            exc = extras.missing(exc.name, f"colorgan {_command(argv)}")
        if _first_to_fail():
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        if not _first_to_fail():  # another rank failed first and said why: this one's
            return 1  # collective broke because that rank left; nothing to add
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        # the last line: libraries log at exit (torch's FakeTensor statistics) or warn while
        # half-initialised; none of it is news to someone who pressed Ctrl-C
        logging.disable(logging.CRITICAL)
        warnings.simplefilter("ignore")
        return 130


if __name__ == "__main__":
    sys.exit(main())
