"""From a model reference to a network the Colorizer can run: a torch module, or an ONNX
Runtime session (colorgan.pipeline.onnxrun.OnnxGenerator) with the same contract.

    model = load_model("default")            # backend "auto": ONNX Runtime on the CPU
    model.network, model.config, model.size_multiple, model.device, model.backend
    model.precision                          # "int8" or "fp32": see choose_precision

The reference is resolved once by colorgan.io.modelfile.resolve_model ("default" is the
bundled ONNX file, checked against its SHA-256 there, once per load; its safetensors weights
are checked when torch loads them). Weights come only through safetensors or ONNX: loading a
model never unpickles anything. torch is imported only where a torch model is built: an ONNX
model (the bundled one, an .onnx file, or a torch model's export found in the cache) loads
without it, in a fraction of a second. Which ONNX file runs is onnx_generator's choice.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from colorgan.core import config as config_mod
from colorgan.core.devices import device_name, resolve_device
from colorgan.core.errors import ColorganError
from colorgan.core.interrupts import deferred_interrupts
from colorgan.io import atomic, modelfile
from colorgan.io.cache import cache_dir
from colorgan.pipeline import modelcheck

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("auto", "int8", "fp32")
# x86 flags of integer dot-product units: with them ONNX Runtime's int8 convolutions beat
# float32 (0.35x of its time per pass on the bundled model, docs/speed.md); without them
# (AVX2 only) its u8 x s8 products are emulated, slower, and can saturate.
INT8_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class LoadedModel:
    network: Callable  # (B,1,H,W) [, hint, ref] -> the generator's output
    config: config_mod.Config
    size_multiple: int
    device: str  # "cpu", "cuda", "cuda:1"
    backend: str  # "torch" or "onnx"
    ref: modelfile.ModelRef
    precision: str = "fp32"  # "int8": the model's int8 network (colorgan.pipeline.quantize)


def load_generator(ref, device="cpu"):
    """(torch generator in eval mode, Config) from any safetensors model reference."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from colorgan.models import generator_from_config  # torch: only to build a model

    ref = modelfile.torch_weights(modelfile.resolve_model(ref))
    cfg = modelfile.read_generator_config(ref.path)
    modelcheck.check_fits(cfg, ref.path)  # before anything is allocated
    generator = generator_from_config(cfg.model, cfg.data.size, load_pretrained=False)
    try:
        state = load_file(str(ref.path))
    except (SafetensorError, OSError) as exc:
        raise ColorganError(f"{ref.path}: damaged model file ({exc})") from None
    modelcheck.check_finite(state, ref.path)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        raise ColorganError(
            f"{ref.path}: weights do not fit {cfg.model.generator} ({exc})"
        ) from None
    return generator.to(resolve_device(device)).eval(), cfg


def choose_backend(backend: str, device, ref: modelfile.ModelRef) -> tuple[str, str]:
    """(backend, device name): "auto" = ONNX Runtime on the CPU when onnxruntime is
    installed (measured 1.5-2.3x faster there, benchmarks/backends.py), torch on CUDA; an .onnx
    file without torch weights beside it runs in ONNX Runtime on the CPU ("auto" device
    included). The bundled model has both: it goes where its device and backend say."""
    if backend not in BACKENDS:
        raise ColorganError(f"backend={backend!r}; valid: {', '.join(BACKENDS)}")
    if ref.kind == "onnx" and ref.weights is None:
        if str(device) not in ("auto", "cpu") or backend == "torch":
            raise ColorganError(f"{ref.label}: an ONNX model runs in ONNX Runtime on the CPU")
        return "onnx", "cpu"
    device = device_name(device)  # torch is imported here only where CUDA may exist
    if backend == "onnx" and device != "cpu":
        raise ColorganError("backend onnx runs on the CPU; use --backend torch with CUDA")
    if backend == "auto":
        onnx_ok = importlib.util.find_spec("onnxruntime") is not None
        backend = "onnx" if device == "cpu" and onnx_ok else "torch"
    return backend, device


def choose_precision(precision: str, backend: str, ref: modelfile.ModelRef) -> str:
    """The one place that decides int8 or fp32. "auto": int8 where it is faster, i.e. on
    ONNX Runtime on a CPU with integer dot-product units (INT8_CPU_FLAGS), when the model
    has an int8 network beside it (`<name>.int8.onnx`: the bundled model ships one;
    scripts/quantize_model.py makes one for any model); fp32 otherwise. "int8" insists
    (an error where there is none); "fp32" is the float32 network everywhere."""
    from colorgan.pipeline.quantize import int8_path

    if precision not in PRECISIONS:
        raise ColorganError(f"precision={precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return "fp32"
    if backend != "onnx":
        if precision == "int8":
            raise ColorganError("precision int8 runs in ONNX Runtime on the CPU (--backend onnx)")
        return "fp32"
    if ref.kind == "onnx" and ref.path.name.endswith(".int8.onnx"):
        return "int8"  # an int8 file named directly runs as it is
    if not int8_path(ref.path).is_file():
        if precision == "int8":
            raise ColorganError(
                f"{ref.label}: no int8 network ({int8_path(ref.path).name} beside it); make one "
                "with scripts/quantize_model.py, or use --precision fp32"
            )
        return "fp32"
    return "int8" if precision == "int8" or cpu_has_int8_units() else "fp32"


def cpu_has_int8_units() -> bool:
    """Whether this CPU has integer dot-product units ONNX Runtime uses (INT8_CPU_FLAGS)."""
    from colorgan.pipeline.onnxrun import cpu_flags

    return bool(set(INT8_CPU_FLAGS) & set(cpu_flags().split()))


def load_model(
    ref="default", backend: str = "auto", device="auto", precision: str = "auto", threads=None
) -> LoadedModel:
    """Any model reference -> LoadedModel on the chosen backend (see choose_backend) and
    precision (see choose_precision). threads: ONNX Runtime's intra-op threads (default: its
    own, one per core); a batch job running several models side by side gives each its share
    of the cores."""
    ref = modelfile.resolve_model(ref)
    backend, device = choose_backend(backend, device, ref)
    precision = choose_precision(precision, backend, ref)
    if precision == "int8":
        net = int8_generator(ref, threads)
        return LoadedModel(net, net.config, net.size_multiple, device, backend, ref, "int8")
    if backend == "onnx":
        net = onnx_generator(ref, threads=threads)
        return LoadedModel(net, net.config, net.size_multiple, device, backend, ref)
    net, cfg = load_generator(ref, device)
    return LoadedModel(net, cfg, modelfile.size_multiple(net), device, backend, ref)


def source_digest(ref: modelfile.ModelRef) -> str:
    """What an int8 network records as made from (its `source_sha256`): the weights, i.e.
    the bundled model's safetensors (checked) rather than its ONNX export, else the file."""
    return (modelfile.torch_weights(ref) if ref.weights is not None else ref).digest()


def int8_generator(ref: modelfile.ModelRef, threads: int | None = None):
    """The OnnxGenerator of a model's int8 network, after checking that it was made from
    this very model file (its `source_sha256`): an int8 file left beside a retrained model
    would colour with the old weights. Its optimised graph is cached like an export's."""
    from colorgan.pipeline.onnxrun import OnnxGenerator, optimized_path
    from colorgan.pipeline.quantize import int8_path

    path = ref.path if ref.path.name.endswith(".int8.onnx") else int8_path(ref.path)
    data = path.read_bytes()
    key = cache_dir("onnx") / f"{hashlib.sha256(data).hexdigest()[:32]}.int8.onnx"
    net = OnnxGenerator(data, threads, optimized_path(key))
    made_from = net.metadata.get("source_sha256")
    if path != ref.path and made_from != source_digest(ref):
        raise ColorganError(
            f"{path}: made from another model file than {ref.label} (stale); make it again "
            "with scripts/quantize_model.py, or use --precision fp32"
        )
    return net


def onnx_generator(ref, opset: int | None = None, threads: int | None = None):
    """An OnnxGenerator for an .onnx file (the bundled model's included: it ships exported),
    or for a torch model: exported on first use and kept in cache_dir("onnx") under the
    SHA-256 of its weights file (an export takes seconds; a cached one loads in well under
    one)."""
    from colorgan import __version__
    from colorgan.pipeline.onnxrun import (
        DEFAULT_OPSET,
        GRAPH_REVISION,
        OnnxGenerator,
        optimized_path,
    )

    ref = modelfile.resolve_model(ref)
    if ref.kind == "onnx" and ref.sha256:  # the bundled model: its optimised graph is cached
        return OnnxGenerator(ref.path, threads, optimized_path(_cached(f"{ref.sha256[:32]}.onnx")))
    if ref.kind == "onnx":
        return OnnxGenerator(ref.path, threads)
    opset = opset or DEFAULT_OPSET
    # keyed by what decides the graph: the weights, the opset and colorgan's code (its
    # version and GRAPH_REVISION). Not torch's version: an export stays right (it was checked
    # against PyTorch when written), and finding it must not cost importing torch (or its
    # metadata).
    name = f"{ref.digest()[:32]}-opset{opset}-colorgan{__version__}-g{GRAPH_REVISION}.onnx"
    cache = _cached(name)
    if cache.is_file():
        try:
            return OnnxGenerator(cache, threads, optimized_path(cache))
        except ColorganError as exc:  # our own cache, damaged (say, a disk error): redo it
            log.warning("the cached ONNX export %s is unusable (%s); exporting again", cache, exc)
            atomic.remove_quietly(cache)
    from colorgan.pipeline import export  # torch and onnx: exporting needs both

    generator, cfg = load_generator(ref)
    with deferred_interrupts():  # Ctrl-C inside the exporter left torch half-way (crashes)
        exported = export.to_onnx(generator, cfg, opset).model
    try:  # checked write-and-rename: two colorize processes may export at once
        atomic.write_bytes(cache, exported)
    except (OSError, ColorganError):  # a read-only or full home costs the next run an export
        pass
    return OnnxGenerator(exported, threads)


def _cached(name: str) -> Path:
    """cache_dir("onnx") / name, the folder created where it can be (a read-only home costs
    each run an export or a graph optimisation, nothing else)."""
    folder = cache_dir("onnx")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return folder / name
