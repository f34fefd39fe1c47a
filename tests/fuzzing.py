"""Property-based fuzzing (Hypothesis) of every parser of untrusted input: hints JSON (REST
field and --hints files), --hint text, REST parameters, model metadata (a safetensors
config's YAML, an ONNX export's properties), checkpoint JSON and option values.

Each target is a function of one drawn value that either succeeds or raises ColorganError
(or, on the command line, argparse's usage exit 2; over REST, a 4xx), and `check` holds it
to the invariants: no other exception (a traceback / 5xx), a one-line message of sane
length, no Python allocation over BUDGET_MB (tracemalloc; numpy reports to it), no file
written. tests/test_fuzz.py runs each for a few seconds; `python benchmarks/fuzz.py
--minutes N` for longer."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import tempfile
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import yaml
from hypothesis import strategies as st

from colorgan.core.errors import ColorganError

BUDGET_MB = 64  # Python allocations one parse may make: a real input needs a few MB at most
MAX_MESSAGE = 600  # characters: an error names the bad value, cut


class Violation(AssertionError):
    """An invariant broken: what the input was, what happened."""


@contextmanager
def invariants(folder: Path | None = None):
    """Around one call: its allocations within BUDGET_MB, nothing new in `folder`, any
    ColorganError one short line (other exceptions propagate: a traceback is a finding)."""
    before = sorted(folder.rglob("*")) if folder else None
    tracemalloc.start()
    try:
        yield
    except ColorganError as exc:
        one_line(str(exc))
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if peak > BUDGET_MB:
        raise Violation(f"allocated {peak:.0f} MB (budget {BUDGET_MB} MB)")
    if folder is not None and sorted(folder.rglob("*")) != before:
        raise Violation(f"files written in {folder}")


def one_line(message: str) -> None:
    if "\n" in message.strip() or len(message) > MAX_MESSAGE or not message.strip():
        raise Violation(f"error message not one short line: {message[:300]!r}...")


# --- strategies ---------------------------------------------------------------------------

# Numbers as JSON and YAML carry them: huge integers, floats that overflow, NaN, Inf.
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=10**18, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 3, 16, 32, 64, 256, 2048, 2049, 65536, 10**9, 1e308, -0.0]),
)
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["#ff0000", "#abc", "red", "1e9", "nan", "inf", "-1", "0x10", "²", "axb"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["f", "[", "{", "9"]), st.integers(0, 3000)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(texts, inner, max_size=5)),
    max_leaves=20,
)
hint_dicts = st.fixed_dictionaries(
    {"x": scalars, "y": scalars, "color": st.one_of(texts, st.lists(scalars, max_size=4))},
    optional={"size": scalars, "extra": scalars},
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def as_json(value) -> str:
    return json.dumps(value, allow_nan=True)


hints_text = st.one_of(
    st.lists(hint_dicts, max_size=6).map(as_json),
    json_values.map(as_json),
    st.integers(1, 5000).map(nested),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)

# --- targets (each: one drawn value -> a call held to the invariants) -----------------------


def hints_json(text: str) -> None:
    from colorgan.pipeline import guidance

    with invariants():
        for hint in guidance.hints_from_json(text, "hints"):
            assert math.isfinite(hint.x) and math.isfinite(hint.y)


def hints_file(data: bytes) -> None:
    from colorgan.pipeline import guidance

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hints.json"
        path.write_bytes(data)
        with invariants(Path(tmp)):
            guidance.read_hints_file(path)


def hint_text(text: str) -> None:
    from colorgan.pipeline.guidance import Hint

    with invariants():
        Hint.parse(text)


def config_yaml(text: str) -> None:
    from colorgan.io import modelmeta

    with invariants():
        cfg = modelmeta.parse_config(text, "model.safetensors")
        assert cfg.data.size <= modelmeta.MAX_WORKING_SIZE
        assert cfg.model.working_size <= modelmeta.MAX_WORKING_SIZE


def _mutated_config(changes: dict) -> str:
    from colorgan.core import config

    raw = config.load("default-model").to_dict()
    for dotted, value in changes.items():
        section, key = dotted.split(".", 1)
        raw.setdefault(section, {})[key] = value
    return yaml.safe_dump(raw)


CONFIG_KEYS = [
    "data.size",
    "model.working_size",
    "model.width",
    "model.temperature",
    "model.gen_kwargs",
    "model.generator",
    "model.head",
    "data.crop",
]
config_text = st.one_of(
    st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values, max_size=3).map(_mutated_config),
    json_values.map(lambda v: yaml.safe_dump(v)),
    st.integers(1, 3000).map(lambda n: "model: " + "[" * n),
    st.text(max_size=300),
)


def onnx_props(meta: dict) -> None:
    from colorgan.io import modelmeta

    with invariants():
        multiple, fixed = modelmeta.parse_onnx_shape(meta, "model.onnx")
        assert 1 <= multiple <= modelmeta.MAX_SIZE_MULTIPLE
        assert fixed is None or all(1 <= s <= modelmeta.MAX_FIXED_SIDE for s in fixed)


onnx_meta = st.fixed_dictionaries(
    {},
    optional={
        "size_multiple": st.one_of(texts, st.integers().map(str)),
        "input_shape": st.one_of(
            texts, st.tuples(st.integers(), st.integers()).map(lambda t: f"{t[0]}x{t[1]}")
        ),
    },
)


def option_values(argv: list[str]) -> None:
    """The colorize command line with drawn option values: parsed (then every number is
    finite and within its bound) or argparse's usage error, exit 2."""
    from colorgan.interfaces import cli

    parser = cli.build_parser(["colorize"])
    with invariants():
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # argparse's usage text
                args = parser.parse_args(["colorize", "in.png", *argv])
        except SystemExit as exc:
            if exc.code != 2:
                raise Violation(f"exit {exc.code}") from None
            return
        for name in ("saturation", "vividness", "size", "tile", "stride"):
            value = getattr(args, name, None)
            if value is not None and not (math.isfinite(value) and 0 <= value <= 4096):
                raise Violation(f"--{name} {value} accepted")


OPTIONS = ["--saturation", "--vividness", "--size", "--tile", "--stride", "--mode", "--format"]
option_argv = st.lists(
    st.tuples(st.sampled_from(OPTIONS), st.one_of(texts, numbers.map(str))), max_size=3
).map(lambda pairs: [part for pair in pairs for part in pair])


class Checkpoints:
    """A tiny run's two checkpoints; a target rewrites the newest one's JSON (with a
    matching MANIFEST entry, or the MANIFEST itself) and resumes."""

    def __init__(self, folder: Path) -> None:
        import torch

        from colorgan.training import checkpoint

        from .reliability_helpers import tiny_config

        self.folder = folder
        self.net = torch.nn.Linear(2, 2)
        self.opt = torch.optim.Adam(self.net.parameters())
        for step in (1, 2):
            checkpoint.save_checkpoint(
                folder,
                step,
                {"generator": self.net},
                {"g": self.opt},
                {"step": step},
                tiny_config(),
            )
        self.newest = folder / "checkpoints" / "step_00000002"
        self.pristine = folder.parent / "pristine"
        shutil.copytree(self.newest, self.pristine, dirs_exist_ok=True)

    def resume(self, name: str, text: str) -> None:
        import hashlib

        from colorgan.training import checkpoint

        shutil.rmtree(self.newest)
        shutil.copytree(self.pristine, self.newest)
        data = text.encode("utf-8", "surrogatepass")
        (self.newest / name).write_bytes(data)
        if name != checkpoint.MANIFEST:  # the checksum matches: only the content is bad
            manifest = json.loads((self.newest / checkpoint.MANIFEST).read_text())
            digest = hashlib.sha256(data).hexdigest()
            manifest["files"][name] = {"bytes": len(data), "sha256": digest}
            (self.newest / checkpoint.MANIFEST).write_text(json.dumps(manifest))
        with invariants():
            found, saved, _ = checkpoint.load_newest(
                self.folder, {"generator": self.net}, {"g": self.opt}
            )
            step = saved["step"]
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise Violation(f"resumed from {found.name} with step {step!r}")


checkpoint_json = st.tuples(
    st.sampled_from(["state.json", "MANIFEST.json"]),
    st.one_of(
        json_values.map(as_json),
        st.fixed_dictionaries({"step": scalars, "optimizers": json_values}).map(as_json),
        st.integers(1, 5000).map(nested),
        st.text(max_size=100),
    ),
)


class Server:
    """The REST app around a tiny model, called in-process (Starlette's TestClient)."""

    def __init__(self, model: Path) -> None:
        from fastapi.testclient import TestClient

        from colorgan.interfaces.web.server import create_app
        from colorgan.pipeline.colorizer import Colorizer

        from .conftest import make_photo

        app = create_app(Colorizer.load(model, backend="torch"))
        self.client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
        self.client.__enter__()
        buf = io.BytesIO()
        make_photo(1, (40, 30)).convert("L").save(buf, "PNG")
        self.photo = buf.getvalue()

    def request(self, endpoint: str, params: dict, hints: str | None) -> None:
        files = {"image": ("p.png", self.photo, "image/png")}
        data = {"hints": hints} if hints is not None else None
        answer = self.client.post(f"/api/{endpoint}", params=params, files=files, data=data)
        if answer.status_code >= 500:
            raise Violation(f"HTTP {answer.status_code}: {answer.text[:300]}")
        if answer.status_code >= 400:
            one_line(answer.json()["error"])


QUERY = ["saturation", "vividness", "size", "format", "mode", "x", "y", "k"]
rest_request = st.tuples(
    st.sampled_from(["colorize", "suggest"]),
    st.dictionaries(st.sampled_from(QUERY), st.one_of(texts, numbers.map(str)), max_size=4),
    st.one_of(st.none(), hints_text),
)
