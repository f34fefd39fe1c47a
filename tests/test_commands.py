"""Every `colorgan ...` command printed in README.md, MODEL_CARD.md, docs/*.md and scripts/*.sh
parses with the real parser, and every subcommand runs end to end on tiny inputs."""

import contextlib
import importlib.util
import io
import re
import shlex
from pathlib import Path

import av
import numpy as np
import pytest

from colorgan.interfaces.cli import COMMANDS, build_parser, main
from tests.conftest import TINY, make_photo, save_tiny_model

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    ROOT / "MODEL_CARD.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", "2>"}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) with backslash continuations joined."""
    out, pending, first = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            first = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((first, pending + line))
        pending = ""
    return out


LIST_EXPANSION = re.compile(r"\$(\{\w+\[[@*]\]\}|[@*])")  # "${ARGS[@]}", "$@": unknown lists


def _argv(tokens: list[str]) -> list[str] | None:
    """The arguments after `colorgan` (also `python -m colorgan`, `torchrun ... -m colorgan`)
    when the tokens hold a colorgan command, up to a shell operator. A script's list
    expansions ("${COMMON[@]}", "$@") are left out: the rest must parse on its own."""
    tokens = [t for t in tokens if not LIST_EXPANSION.fullmatch(t)]
    for i, token in enumerate(tokens[:-1]):
        if token == "colorgan" and tokens[i + 1] in COMMANDS:
            rest = tokens[i + 1 :]
            cut = next((j for j, t in enumerate(rest) if t in SHELL_OPERATORS), len(rest))
            return rest[:cut]
    return None


def _shell_words(line: str) -> list[str]:
    """A shell line's words (comments dropped; a ";" ending a word is a word of its own)."""
    words = []
    for word in shlex.split(line, comments=True):
        words += [word[:-1], ";"] if len(word) > 1 and word.endswith(";") else [word]
    return words


def _code_lines(path: Path):
    """Logical lines of a script, or of the fenced code blocks of a markdown file."""
    code = path.suffix == ".sh"
    for number, line in _logical_lines(path.read_text()):
        if path.suffix == ".md" and line.lstrip().startswith("```"):
            code = not code
        elif code:
            yield number, line


def _synopsis(text: str) -> str:
    """A usage line in prose ("colorgan colorize PHOTO... [-o DIR]") as a runnable line: the
    optional parts kept, "X..." as one X."""
    return re.sub(r"(\S)\.\.\.", r"\1", text.replace("[", "").replace("]", ""))


def commands_in(path: Path) -> list[tuple[str, list[str]]]:
    """(where, argv after `colorgan`) of every colorgan command line in a file: each line of
    code (scripts, fenced blocks) that runs colorgan, and each inline code span that gives a
    command with arguments (a bare `colorgan train` in prose names a command, it is not a
    command line; `data offline-photos` is the data command's own subcommand)."""
    found = []
    for number, line in _code_lines(path):
        argv = _argv(_shell_words(line))
        if argv:
            found.append((f"{path.name}:{number}", argv))
    if path.suffix == ".md":
        text = re.sub(
            r"```.*?```", lambda m: "\n" * m.group().count("\n"), path.read_text(), flags=re.S
        )
        for match in re.finditer(r"`(colorgan [^`]+)`", text):
            argv = _argv(shlex.split(_synopsis(match.group(1).replace("\n", " "))))
            words = 2 if argv and argv[:2] == ["data", "offline-photos"] else 1
            if argv and len(argv) > words:
                number = text.count("\n", 0, match.start()) + 1
                found.append((f"{path.name}:{number}", argv))
    return found


ALL = [c for path in DOCS + SCRIPTS for c in commands_in(path)]


def test_the_readme_is_a_short_front_page():
    """Detail belongs in docs/ (linked from the README), not on the first page a visitor sees."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 10_000
    assert "load average" not in readme.lower()


def test_the_docs_have_commands_of_every_kind():
    assert {argv[0] for _, argv in ALL} == set(COMMANDS)


@pytest.mark.parametrize("where, argv", ALL, ids=[w for w, _ in ALL])
def test_every_documented_command_parses(where, argv):
    parser = build_parser(argv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: colorgan {shlex.join(argv)}: {err.getvalue().strip()}")
    assert args.command == argv[0]


SCRIPT_RUN = re.compile(
    r"(?:python3?|bash) ((?:scripts|benchmarks)/[\w.]+\.(?:py|sh))((?: [^`|;&]*)?)"
)


def script_commands() -> list[tuple[str, str, list[str]]]:
    """(where, script, its --options) of every `python scripts/X.py ...`, `python
    benchmarks/X.py ...` and `bash scripts/X.sh` the docs print, in code blocks and prose."""
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in SCRIPT_RUN.finditer(line):
                options = re.findall(r"(?<!\S)(--[\w-]+)", match.group(2))
                found.append((f"{path.name}:{number}", match.group(1), options))
    return found


SCRIPT_CALLS = script_commands()


@pytest.mark.parametrize("where, script, options", SCRIPT_CALLS, ids=[w for w, *_ in SCRIPT_CALLS])
def test_every_documented_script_exists_with_its_options(where, script, options):
    path = ROOT / script
    assert path.is_file(), f"{where}: {script} does not exist"
    text = path.read_text()
    if "def parser()" in text:  # its argparse parser, built where the scripts share it
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        declared = {o for action in module.parser()._actions for o in action.option_strings}
        missing = sorted(set(options) - declared)
        assert not missing, f"{where}: {script} has no option {', '.join(missing)}"
        return
    for option in options:  # benchmarks/*.py and scripts/*.py declare them with argparse
        assert f'"{option}"' in text, f"{where}: {script} has no option {option}"


# --- every subcommand, end to end -------------------------------------------------------------
REPO_PATH = re.compile(r"`((?:colorgan|scripts|benchmarks|tests|docs|examples)/[\w./-]+)`")


def test_every_repo_path_the_docs_name_exists():
    """`colorgan/core/config.py`, `docs/results/hints`...: each path named in backticks."""
    named = [(path.name, name) for path in DOCS for name in REPO_PATH.findall(path.read_text())]
    missing = [
        f"{doc}: {name}"
        for doc, name in named
        if "*" not in name and not (ROOT / name.rstrip("/")).exists()
    ]
    assert named and not missing, missing


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    save_tiny_model(root / "g.safetensors")
    photos = root / "photos"
    photos.mkdir()
    for i in range(6):
        make_photo(i, (48, 40)).save(photos / f"{i}.png")
    with av.open(str(root / "clip.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(4):
            rgb = np.asarray(make_photo(i % 2, (48, 32)))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return root


FAST_EVAL = [
    "--skip",
    "lpips",
    "--skip",
    "fid",
    "--skip",
    "fd_mobilenetv2",
    "--skip",
    "throughput",
    "--grid",
    "2",
]
TRAIN = ["--size", "32", "--batch-size", "2", *[a for s in TINY for a in ("--set", s)]]


def run_command(name, tiny, out, monkeypatch):
    model, photos = str(tiny / "g.safetensors"), str(tiny / "photos")
    if name == "colorize":
        argv = ["colorize", photos, "-o", str(out), "--model", model, "--backend", "torch"]
    elif name == "video":
        argv = ["video", str(tiny / "clip.mp4"), "-o", str(out) + ".mp4", "--model", model]
    elif name == "train":
        argv = [
            "train",
            "--preset",
            "pix2pix-unet",
            "--data",
            photos,
            "--out",
            str(out),
            *TRAIN,
            "--steps",
            "2",
        ]
    elif name == "evaluate":
        argv = [
            "evaluate",
            "--model",
            "gray",
            "--model",
            model,
            "--data",
            photos,
            "--size",
            "32",
            "--out",
            str(out),
            *FAST_EVAL,
        ]
    elif name == "experiments":
        argv = [
            "experiments",
            "--preset",
            "pix2pix-unet",
            "--data",
            photos,
            "--out",
            str(out),
            "--steps",
            "1",
            *TRAIN,
            *FAST_EVAL,
            "--no-checkpoint-curves",
        ]
    elif name == "batch":  # on the test session's local Ray (conftest.ray_address)
        argv = ["batch", photos, str(out), "--model", model]
    elif name == "restore":
        argv = ["restore", photos, "-o", str(out), "--steps", "all", "--save-mask"]
    elif name == "evaluate-restore":
        argv = ["evaluate-restore", "--data", photos, "--limit", "1", "--out", str(out)]
    elif name == "export":
        argv = ["export", model, "--format", "onnx", "-o", str(out) + ".onnx"]
    elif name == "serve":
        argv = ["serve", "--model", model, "--port", "0", "--backend", "torch"]
        served = _no_serving(monkeypatch)
    code = main(argv)
    if name == "serve":
        assert served == [True]
    return code


def _no_serving(monkeypatch):
    """serve: everything up to the event loop (model, socket, app), then stop at once."""
    from colorgan.interfaces.web import server

    served = []

    class Stopped:
        def __init__(self, app, *args, **kwargs):
            served.append(app is not None)

        def run(self, sockets):
            assert [s.getsockname()[1] > 0 for s in sockets] == [True]  # listening, port 0 bound

    monkeypatch.setattr(server, "uvicorn_server", Stopped)
    return served


# `data` downloads Debian packages and wheels: it runs end to end on fake apt and pip sources
# in tests/test_offline_photos.py::test_cli_builds_then_only_verifies, not here
@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(set(COMMANDS) - {"data"}))
def test_every_subcommand_runs(name, tiny, tmp_path, monkeypatch, request):
    if name == "batch":  # on the test session's local Ray
        request.getfixturevalue("ray_address")
    assert run_command(name, tiny, tmp_path / "out", monkeypatch) == 0
