"""Running an exported generator in ONNX Runtime: `OnnxGenerator`, the network the Colorizer
uses on the CPU by default. numpy in, numpy out, and no torch: loading and running an .onnx
file (or a torch model's export from the cache) costs importing onnxruntime only, a tenth of
a second, where torch costs seconds. Exporting is colorgan.pipeline.export's (torch).
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

import numpy as np

from colorgan.core import extras
from colorgan.core.errors import ColorganError
from colorgan.io import modelfile, modelmeta
from colorgan.pipeline import ortenv

FORMAT = "colorgan-generator-onnx/1"
INPUT, OUTPUT = "l_norm", "out"
DEFAULT_OPSET = 17  # read by ONNX Runtime >= 1.11, TensorRT >= 8.6, OpenVINO >= 2022.3
# Raised whenever an architecture exports a different graph for the same weights (a faster
# formulation, say): the export cache is keyed by it, so old exports are not reused, and
# every export records it, so tests/test_default_model.py fails until the bundled ONNX
# model is exported again (scripts/pack_default_model.py --onnx-only).
GRAPH_REVISION = 3


def onnx_modules():
    """(onnx, onnxruntime), or a ColorganError saying how to install them."""
    onnxruntime = ortenv.import_onnxruntime()  # telemetry off (see colorgan.pipeline.ortenv)
    try:
        import onnx
    except ModuleNotFoundError as exc:
        raise extras.missing(exc.name, "exporting to ONNX") from None
    return onnx, onnxruntime


def session(model: bytes, threads: int | None = None, optimized: Path | None = None, folder=None):
    """An ONNX Runtime CPU session for a serialised model. optimized: where this machine's
    optimised graph is kept (see optimized_path): loaded as it is when there (graph
    optimisation is most of a session's start, ~0.1 s), else written there on the way.
    folder: the model file's folder, where its external data must lie (ORT reads a model
    given as bytes against the current folder, and refuses paths that leave the folder)."""
    ort = ortenv.import_onnxruntime()  # telemetry off (see colorgan.pipeline.ortenv)
    options = ort.SessionOptions()
    if folder is not None:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", str(folder)
        )
    options.log_severity_level = 3  # errors only: ORT's warnings are about its own internals
    # ORT's workers spin-wait between runs by default; here the network shares the cores
    # with decoding, composing and encoding threads (batches, video), which need them more.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    if optimized is not None and optimized.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ortenv.new_session(str(optimized), options)
        except Exception:  # a damaged cache file (ORT's errors are private types): redo it
            optimized.unlink(missing_ok=True)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    tmp = None
    if optimized is not None and not os.access(optimized.parent, os.W_OK):
        optimized = None  # ORT cannot write its temporary file there: no cache, no error
    if optimized is not None:
        tmp = optimized.with_name(f".{optimized.name}.tmp-{os.getpid()}")
        options.optimized_model_filepath = str(tmp)
    result = ortenv.new_session(model, options)  # Ctrl-C waits until the session exists
    if tmp is not None:
        try:  # renamed whole: a concurrent process never loads half a file
            os.replace(tmp, optimized)
        except OSError:  # a read-only cache only costs the next start the optimisation
            tmp.unlink(missing_ok=True)
    return result


def optimized_path(export: Path) -> Path:
    """Where the optimised graph of a cached export is kept for this ONNX Runtime version
    and this CPU: fully optimised graphs use the CPU's vector width, so a cache shared
    between machines keeps one per kind of CPU."""
    onnxruntime = ortenv.import_onnxruntime()

    flags = platform.machine() + platform.processor() + cpu_flags()
    cpu = hashlib.sha256(flags.encode()).hexdigest()[:12]
    return export.with_name(f"{export.stem}.ort{onnxruntime.__version__}-{cpu}.optimized.onnx")


def cpu_flags() -> str:
    """The CPU's feature flags line from /proc/cpuinfo (Linux; "" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return ""


class OnnxGenerator:
    """An exported generator in ONNX Runtime with the generator's contract: a callable
    l_norm (B,1,H,W) [, more inputs in the file's order] -> (B,C,H,W), plus `size_multiple`
    and `config` (from the metadata). numpy_io: the Colorizer hands it numpy arrays as they
    are; torch tensors work too (a tensor comes back, on the input's device)."""

    numpy_io = True

    def __init__(
        self, model: str | Path | bytes, threads: int | None = None, optimized: Path | None = None
    ) -> None:
        where = "the exported model" if isinstance(model, bytes) else str(model)
        folder = None
        if not isinstance(model, bytes):
            if not Path(model).is_file():
                raise ColorganError(f"ONNX model not found: {model}")
            folder = Path(model).resolve().parent
            model = Path(model).read_bytes()
        try:
            self.session = session(model, threads, optimized, folder)
        except ColorganError:
            raise
        except Exception as exc:  # ORT's exception types live in a private module
            raise ColorganError(f"{where}: not a readable ONNX model ({_first(exc)})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("format") != FORMAT or modelfile.CONFIG_META_KEY not in meta:
            raise ColorganError(
                f"{where}: not a colorgan ONNX export (no colorgan config in its metadata); "
                "make one with `colorgan export MODEL --format onnx -o OUT.onnx`"
            )
        self.metadata = meta
        self.config = modelmeta.parse_config(meta[modelfile.CONFIG_META_KEY], where)
        self.size_multiple, self.input_shape = modelmeta.parse_onnx_shape(meta, where)
        self.input_names = [i.name for i in self.session.get_inputs()]
        # A first run on the smallest inputs: ORT's arena never gives back the region of its
        # first allocation (~60 MB when a size=2048 photo came first), so make it small.
        try:
            self.session.run([OUTPUT], self._small(None))
        except Exception as exc:  # a graph that does not take what its metadata says
            raise ColorganError(f"{where}: cannot run this ONNX model ({_first(exc)})") from None

    def __call__(self, l_norm, *more):
        if self.input_shape and tuple(l_norm.shape[-2:]) != self.input_shape:
            h, w = self.input_shape
            raise ColorganError(
                f"this ONNX model was exported for {h}x{w} inputs only; "
                f"colorize with --mode tiles --tile {h}"
            )
        inputs = [l_norm, *more]
        if len(inputs) != len(self.input_names):
            raise ColorganError(
                f"this ONNX model takes {len(self.input_names)} inputs "
                f"({', '.join(self.input_names)}), not {len(inputs)}"
            )
        feed = {name: _numpy(x) for name, x in zip(self.input_names, inputs, strict=True)}
        out = ortenv.run(self.session, OUTPUT, feed, self._small(feed))
        if hasattr(l_norm, "detach"):  # a torch tensor in: a tensor out (torch is loaded)
            import torch

            return torch.from_numpy(out).to(l_norm.device)
        return out

    def _small(self, feed: dict | None) -> dict:
        """Inputs of one item of a small shape the model takes (64 pixels or two size
        multiples a side: at one, the deepest layer is 1x1 and reflection padding fails):
        feed's cut to it, or zeros (feed None)."""
        side = self.size_multiple * max(2, -(-64 // self.size_multiple))
        h, w = self.input_shape or (side, side)
        if feed is not None:
            return {k: x[:1, ..., :h, :w] if x.ndim == 4 else x[:1] for k, x in feed.items()}
        shapes = {
            i.name: [d if isinstance(d, int) else 1 for d in i.shape]
            for i in self.session.get_inputs()
        }
        return {
            k: np.zeros([*s[:-2], h, w] if len(s) == 4 else s, np.float32)
            for k, s in shapes.items()
        }


def _first(exc: Exception, limit: int = 300) -> str:
    """The first line of ONNX Runtime's message, cut: it can quote a whole graph."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, np.float32)
