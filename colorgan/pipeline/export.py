"""A generator as a self-describing ONNX file (`to_onnx`, behind `colorgan export`); running
one is colorgan.pipeline.onnxrun's `OnnxGenerator` (no torch there), re-exported here
(colorgan.pipeline.loading exports a torch model and caches it on first use).

The file maps input "l_norm" (B, 1, H, W) float32 in [-1, 1] to "out" (B, C, H, W) in
[-1, 1], exactly as the torch generator does (C = 2 for ab, 3 for the RGB mode; a
distribution head gives logits (B, Q, H/2, W/2)); a guided model (`model.guidance`) also
takes "hint" (B, 3, H, W) and "ref" (B, Q + 1), checked with hints and a reference set. Batch,
height and width are dynamic; H and W must be multiples of `size_multiple` (the Colorizer
pads to them). An architecture whose traced graph only holds at the traced size (say, a
layer over all pixels) is exported at its training size instead, and says so in
`input_shape`. The metadata carries what the safetensors file carries, so the .onnx file
needs no other file: the colorgan config (YAML), size_multiple, color_space, input_shape,
the measured max abs difference between ONNX Runtime and PyTorch, and the graph revision
of the code that exported it. Every export is run
in ONNX Runtime against PyTorch before it is written; one that disagrees is refused.

Exporter: PyTorch's TorchScript-based exporter (`dynamo=False`). It is deprecated in favour
of the torch.export-based one, but it exists on every torch this package allows (2.4 to
2.14.1), and here it exported every registered generator with dynamic H and W in 1-7 s,
where the torch.export-based one took 7-60 s per generator and refused `resnet` with the
dynamic sizes declared as H, W = size_multiple * k, k >= 1 (it wants bounds per
architecture). Measured on a 2-core machine with width-4 generators.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from colorgan.core import config as config_mod
from colorgan.core.errors import ColorganError
from colorgan.io import modelfile
from colorgan.pipeline.onnxrun import (  # noqa: F401  (OnnxGenerator: re-exported)
    DEFAULT_OPSET,
    FORMAT,
    GRAPH_REVISION,
    INPUT,
    OUTPUT,
    OnnxGenerator,
    onnx_modules,
    session,
)

GUIDED_INPUTS = (INPUT, "hint", "ref")  # a guided generator's inputs, in its call's order
OPSETS = range(11, 21)  # the TorchScript exporter writes opsets up to 20
TOLERANCE = 1e-3  # max |ONNX Runtime - PyTorch| accepted on outputs in [-1, 1]


@dataclass(frozen=True)
class ExportReport:
    model: bytes  # the serialised ONNX model, metadata included
    size_multiple: int
    input_shape: tuple[int, int] | None  # None: any H and W (multiples of size_multiple)
    max_abs_diff: float
    checked_shapes: tuple[tuple[int, ...], ...]

    def summary(self) -> str:
        shape = (
            f"dynamic H and W (multiples of {self.size_multiple})"
            if self.input_shape is None
            else "fixed {}x{} input (the architecture does not generalise to other sizes)".format(
                *self.input_shape
            )
        )
        shapes = ", ".join("x".join(map(str, s)) for s in self.checked_shapes)
        return (
            f"{shape}, dynamic batch; ONNX Runtime vs PyTorch max abs difference "
            f"{self.max_abs_diff:.2g} on inputs {shapes}"
        )


# --- export and check ------------------------------------------------------------------------


def _trace(generator: nn.Module, example: tuple, opset: int, dynamic: bool) -> bytes:
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    names = list(GUIDED_INPUTS[: len(example)])
    dynamic_axes = {name: axes for name in [*names[:2], OUTPUT]}
    if len(names) == 3:
        dynamic_axes["ref"] = {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # deprecation: chosen knowingly (module docstring); tracer warnings about values
        # baked in as constants: the check at other shapes decides whether that matters
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # notes on its own constant folding and on InstanceNorm using the input's statistics
        # (which is what InstanceNorm does at inference too): nothing for the user to act on
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        torch.onnx.export(
            generator,
            example,
            buf,
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
        )
    return buf.getvalue()


@torch.inference_mode()
def _max_diff(model: bytes, generator: nn.Module, inputs: list[tuple]) -> float:
    """Largest |ONNX Runtime - PyTorch| over the input tuples; raises what ORT raises."""
    run = session(model)
    worst = 0.0
    for xs in inputs:
        feed = {name: x.numpy() for name, x in zip(GUIDED_INPUTS, xs, strict=False)}
        (out,) = run.run([OUTPUT], feed)
        worst = max(worst, float((torch.from_numpy(out) - generator(*xs)).abs().max()))
    return worst


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _probe(shape: tuple[int, ...], seed: int, guided: bool = False) -> tuple:
    """Random inputs: (l_norm,), or for a guided model (l_norm, hint, ref) with hints at a
    few points and a reference histogram (the inputs must not be all zero: a traced graph
    would not show it ignores them)."""
    gen = torch.Generator().manual_seed(seed)
    l_norm = torch.rand(shape, generator=gen) * 2 - 1
    if not guided:
        return (l_norm,)
    from colorgan.core import abbins

    b, _, h, w = shape
    mask = (torch.rand(b, 1, h, w, generator=gen) < 0.02).float()
    hint = torch.cat([(torch.rand(b, 2, h, w, generator=gen) - 0.5) * mask, mask], dim=1)
    hist = torch.rand(b, abbins.Q, generator=gen)
    ref = torch.cat([hist / hist.sum(dim=1, keepdim=True), torch.ones(b, 1)], dim=1)
    return (l_norm, hint, ref)


def to_onnx(
    generator: nn.Module, cfg: config_mod.Config, opset: int = DEFAULT_OPSET
) -> ExportReport:
    """Export and check a generator (any nn.Module with the generator contract)."""
    if opset not in OPSETS:
        raise ColorganError(f"--opset {opset}: choose {OPSETS.start}..{OPSETS.stop - 1}")
    generator = generator.cpu().eval()
    name = cfg.model.generator
    m = modelfile.size_multiple(generator)
    side = m * math.ceil(max(cfg.data.size, 32) / m)  # the training size, >= 32 px
    guided = cfg.model.guidance
    example = _probe((1, 1, side, side), 0, guided)
    # other batch sizes, non-square, other sizes: what a traced-in constant would break
    others = [
        _probe((2, 1, side, side + m * math.ceil(16 / m)), 1, guided),
        _probe((1, 1, 2 * side, side), 2, guided),
    ]
    try:
        model = _trace(generator, example, opset, dynamic=True)
    except Exception as exc:  # the exporter raises many types; each means "cannot export"
        raise ColorganError(f"{name} is not exportable: {_first_line(exc)}") from None
    shape, checked = None, [example, *others]
    try:
        diff = _max_diff(model, generator, checked)
    except Exception:  # ORT rejects other sizes: the graph holds at the traced size only
        diff = math.inf
    if diff > TOLERANCE:
        shape, checked = (side, side), [example, _probe((2, 1, side, side), 3, guided)]
        model = _trace(generator, example, opset, dynamic=False)
        try:
            diff = _max_diff(model, generator, checked)
        except Exception as exc:  # ORT's exception types live in a private module
            reason = f"ONNX Runtime cannot run it ({_first_line(exc)})"
            raise ColorganError(f"{name} is not exportable: {reason}") from None
    if diff > TOLERANCE:
        raise ColorganError(
            f"{name} is not exportable: ONNX Runtime output differs from PyTorch by {diff:.3g} "
            f"(> {TOLERANCE}) even at the traced size"
        )
    model = _describe(model, cfg, m, shape, diff, opset)
    return ExportReport(model, m, shape, diff, tuple(tuple(x[0].shape) for x in checked))


def _describe(model: bytes, cfg, multiple: int, shape, diff: float, opset: int) -> bytes:
    """The metadata that makes the .onnx file self-describing (as the safetensors file is)."""
    onnx, _ = onnx_modules()
    proto = onnx.load_from_string(model)
    meta = {
        modelfile.CONFIG_META_KEY: cfg.to_yaml(),
        "format": FORMAT,
        "size_multiple": str(multiple),
        "color_space": cfg.model.color_space,
        "input_shape": "dynamic" if shape is None else f"{shape[0]}x{shape[1]}",
        "max_abs_diff": f"{diff:.3g}",
        "exporter": f"torch {torch.__version__} TorchScript exporter, opset {opset}",
        "graph_revision": str(GRAPH_REVISION),  # the code it was exported from (see onnxrun)
    }
    onnx.helper.set_model_props(proto, meta)
    if cfg.model.head == "distribution":
        out = f"{OUTPUT} (B,Q,H/2,W/2): logits over colorgan.core.abbins' Q ab bins"
    else:
        out = f"{OUTPUT} (B,{2 if cfg.model.color_space == 'lab' else 3},H,W) in [-1,1]"
    guidance = ", hint (B,3,H,W): a, b, mask; ref (B,Q+1)" if cfg.model.guidance else ""
    proto.doc_string = (
        f"colorgan {cfg.model.generator}: {INPUT} (B,1,H,W) in [-1,1]{guidance} -> {out}"
    )
    return proto.SerializeToString()
