"""Command-line options shared by the commands that colour (colorize, video, serve, evaluate):
one spelling, one help text and one validator each. Each builder takes `arg`, a parser's
(or argument group's) add_argument.

Values that need the model or a file to check (hints, a reference photo) are kept as text
here and checked in the command's run_cli, so a bad one is one `error:` line (exit 2), not
argparse's usage dump.
"""

from __future__ import annotations

import argparse
import math

from colorgan.pipeline import options

MODEL_HELP = (
    "'default' (the bundled model), a training run folder, a checkpoint folder, a generator "
    ".safetensors file or an exported .onnx file"
)


def number(kind: type, low: float, high: float = math.inf):
    """argparse type: a number of `kind` between low and high (inclusive)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not low <= value <= high:  # NaN fails too
            if high == math.inf:
                raise argparse.ArgumentTypeError(f"{text} is not >= {low}")
            raise argparse.ArgumentTypeError(f"{text} is not between {low} and {high}")
        return value

    return parse


positive_int = number(int, 1)


def add_model(arg, model_help: str = MODEL_HELP) -> None:
    """--model, --device, --backend, --precision."""
    arg("--model", default="default", help=model_help)
    arg("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    arg(
        "--backend",
        choices=("auto", "torch", "onnx"),
        default="auto",
        help="network runtime; auto = ONNX Runtime on the CPU (measured faster), torch on CUDA",
    )
    arg(
        "--precision",
        choices=("auto", "int8", "fp32"),
        default="auto",
        help="network precision; auto = the model's int8 network on CPUs with int8 "
        "dot-product units (same colour, faster: docs/speed.md), else float32",
    )


def add_option(arg, option, help: str | None = None, flag: str | None = None) -> None:
    """--NAME from its spec in colorgan.pipeline.options: type and bounds, choices, default
    and help text (help: the text for this command, when it differs)."""
    kind = {"type": number(option.kind, option.low, option.high)}
    if option.choices is not None:
        kind = {"choices": option.choices}
    arg(
        flag or f"--{option.name}",
        default=option.default,
        metavar=option.metavar,
        help=help or option.help,
        **kind,
    )


def add_size(arg, what: str = "the photo") -> None:
    """--size; what: what the network sees ("each frame" for video)."""
    add_option(arg, options.SIZE, options.SIZE.help.replace("the photo", what))


def add_tiles(arg) -> None:
    """--tile, --stride, --mode (colorgan.pipeline.colorizer's modes)."""
    for option in options.TILES:
        add_option(arg, option)


def add_colour(arg) -> None:
    """--saturation and --vividness."""
    for option in options.COLOUR:
        add_option(arg, option)


def colour_options(args) -> dict:
    """The values of the colour options on the command line, as Colorizer.using takes them."""
    return {name: getattr(args, name) for name in options.ALL if hasattr(args, name)}


def add_guidance(arg, points: bool = True, first_frame: bool = False) -> None:
    """--hint (points=True), --hints FILE.json, --reference REF."""
    where = " on the first frame (carried through the shot)" if first_frame else ""
    if points:
        arg(
            "--hint",
            action="append",
            default=[],
            metavar="X,Y,#RRGGBB[,SIZE]",
            help="a colour at pixel X,Y of the input (0,0 = top left), optionally as a SIZE "
            "pixel patch at the working size (default 3); repeatable",
        )
    arg(
        "--hints",
        metavar="FILE",
        help=f'colour hints{where} from a JSON list of {{"x", "y", "color", "size"}}',
    )
    arg("--reference", metavar="REF", help="an image whose colours to follow")


def hints_from(args) -> tuple:
    """The hints of --hint and --hints (checked: ColorganError naming a bad one)."""
    from colorgan.pipeline import guidance  # torch: only for commands that colour

    hints = guidance.parse_hints(getattr(args, "hint", None) or [])
    if getattr(args, "hints", None):
        hints += guidance.read_hints_file(args.hints)
    return hints


def command_line(add_arguments, prog: list[str], values: dict) -> list[str]:
    """The argv of a colorgan command, built from the command's own parser (its
    `add_arguments`): values maps each argument's dest to its value (None, "" and [] are left
    out; lists repeat the option; True/False switch a store_true flag). The result is parsed
    back with that parser, so a command written into a report always runs as written."""
    parser = argparse.ArgumentParser(prog=" ".join(prog), exit_on_error=False, allow_abbrev=False)
    add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}  # argparse keeps them only here
    unknown = sorted(set(values) - set(actions))
    if unknown:
        raise ValueError(f"{' '.join(prog)} has no option for {unknown}")
    positional, options = [], []
    for dest, value in values.items():
        action = actions[dest]
        flag = max(action.option_strings, key=len) if action.option_strings else None
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is None or v == "" or v is False:
                continue
            if flag is None:
                positional.append(str(v))
            elif v is True and action.nargs == 0:
                options.append(flag)
            else:
                options += [flag, str(v)]
    argv = positional + options
    try:
        parser.parse_args(argv)
    except (argparse.ArgumentError, SystemExit) as exc:
        raise ValueError(f"{' '.join(prog + argv)} does not parse: {exc}") from None
    return prog + argv


def repair_steps(text: str) -> tuple[str, ...]:
    """argparse type of --restore: colorgan.pipeline.restore's steps, comma-separated."""
    from colorgan.core.errors import ColorganError
    from colorgan.pipeline.restore import parse_steps

    try:
        return parse_steps(text)
    except ColorganError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_restore(arg) -> None:
    """--restore [STEPS] (colorgan.pipeline.restore)."""
    arg(
        "--restore",
        nargs="?",
        const="default",
        type=repair_steps,
        metavar="STEPS",
        help="repair the photo before colour: alone, scratches, dust, grain and faded "
        "contrast, each only where it finds its damage; or STEPS, comma-separated, of "
        "scratches,dust,grain,fading (docs/restore.md). Put it after the photos or give STEPS",
    )
