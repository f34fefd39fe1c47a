"""An int8 network from a float32 ONNX export: ONNX Runtime static quantisation, calibrated on
photos run through the Colorizer itself (so the calibration sees exactly the inputs the
network sees when colouring: working-size L, hint maps, references).

    feeds = calibration_feeds(colorizer, photos)      # colorizer on the float32 export
    int8 = quantize(fp32_onnx_bytes, feeds, source_digest)

What is quantised, and why (measured on the bundled model, docs/speed.md):
  * the decoder's convolutions (nodes named /decoder...: the layers at the higher
    resolutions, most of the convolution time): QDQ format, int8 weights per output
    channel, uint8 activations with min-max ranges from the calibration; ONNX Runtime runs
    them as integer convolutions (VNNI / AMX on CPUs that have them). A model without such
    names gets every convolution quantised but the ones below.
  * the encoder stays float32: with its (MobileNetV2) convolutions in int8 too, the network
    was a little faster (0.78x of float32's time per pass against 0.83x, one run at load
    average 24 on 2 cores) but colour drifted where a
    reference photo sharpens the distribution (validation, own colours as the reference:
    -0.11 dB PSNR, +0.22 CIEDE2000; decoder only: -0.004 dB, +0.003) and video flickered
    more (bikes.mp4 per-frame flicker 2.15 against 1.30 ab units).
  * the output layer (the convolution(s) the graph output comes from without another
    convolution between) stays float32: it gives a distribution head's logits, which are
    decoded at temperature ~0.2, so one quantisation step of a logit becomes five in the
    exponent. Keeping it in float32 was also faster (0.35x vs 0.48x of float32's time per
    pass), as its int8 output would have to be turned back into float32 logits.
  * convolutions that see only the guidance inputs (the hint stem: nothing of L reaches
    them) stay float32: without hints their input is all zeros and their output a constant
    added to the encoder's features everywhere, which int8 shifted over the whole photo
    (validation CIEDE2000 +0.10 against float32 with them quantised, +0.025 without; the
    same speed).
  * Gemm / MatMul (the reference branch, the hint path's colour distances) stay float32:
    they are tiny, and the hint path must place a hinted colour exactly.
The file keeps the float32 export's metadata (it is as self-describing) plus `precision`
= "int8", `source_sha256` (the model file it was made from: colorgan.pipeline.loading uses
it only for that model) and `calibration` (what it was calibrated on).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from colorgan.core.errors import ColorganError
from colorgan.io import atomic
from colorgan.pipeline.guidance import Hint, to_hex
from colorgan.pipeline.onnxrun import onnx_modules

INT8_SUFFIX = ".int8.onnx"
DECODER = "/decoder"  # node names of the decoder's layers in an exported generator
CALIBRATION_HINTS = 10  # per hinted photo: what `colorgan evaluate --hints 10` gives


def int8_path(model: Path) -> Path:
    """Where a model file's int8 network is kept: beside it, `<name>.int8.onnx`."""
    return model.with_suffix(INT8_SUFFIX)


def calibration_feeds(colorizer, photos: Iterable, seed: int = 0) -> list[dict]:
    """The network inputs of colouring each photo (paths, PIL images or arrays) with the
    colorizer's single pass: every photo without guidance; for a guided model also every
    other photo with CALIBRATION_HINTS hints of its own colours at random points, and every
    third with itself as the reference."""
    from colorgan.io import images

    recorded: list[dict] = []
    inner = colorizer.model.network
    names = inner.input_names

    def record(*inputs):
        recorded.append({n: np.ascontiguousarray(x) for n, x in zip(names, inputs, strict=True)})
        return inner(*inputs)

    record.numpy_io = True
    runner = copy.copy(colorizer.model)  # the same model, its network's inputs recorded
    runner.network = record
    recording = type(colorizer)(runner)
    rng = np.random.default_rng(seed)
    for i, src in enumerate(photos):
        photo = images.open_rgb(src)
        recording.colorize(photo)
        if colorizer.guided:
            hints = _own_colour_hints(np.asarray(photo), rng) if i % 2 == 0 else None
            reference = photo if i % 3 == 0 else None
            if hints or reference is not None:
                recording.colorize(photo, hints=hints, reference=reference)
    return recorded


def _own_colour_hints(rgb: np.ndarray, rng: np.random.Generator) -> list[Hint]:
    """Hints at random points of an (H, W, 3) uint8 photo, each with its own colour there."""
    h, w = rgb.shape[:2]
    points = zip(
        rng.integers(0, w, CALIBRATION_HINTS), rng.integers(0, h, CALIBRATION_HINTS), strict=True
    )
    return [Hint(int(x), int(y), to_hex(rgb[y, x].tolist())) for x, y in points]


def float32_layers(model) -> list[str]:
    """The Conv nodes kept in float32 (the module's docstring says why)."""
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    decoder = {name for name in convs if name.startswith(DECODER)}
    outside = [name for name in convs if decoder and name not in decoder]
    return sorted({*outside, *output_layer(model), *guidance_only(model)})


def guidance_only(model) -> list[str]:
    """Names of the Conv nodes that no path from the first input (L) reaches."""
    reached = {model.graph.input[0].name}
    for node in model.graph.node:  # ONNX keeps nodes in topological order
        if reached.intersection(node.input):
            reached.update(node.output)
    return [n.name for n in model.graph.node if n.op_type == "Conv" and n.output[0] not in reached]


def output_layer(model) -> list[str]:
    """Names of the Conv nodes the graph's outputs come from with no other Conv between."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found, seen = [], set()
    todo = [o.name for o in model.graph.output]
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found.append(node.name)
        else:
            todo.extend(node.input)
    return found


class _Feeds:
    """onnxruntime.quantization's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: list[dict]) -> None:
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)


def quantize(fp32: bytes, feeds: list[dict], source_digest: str, calibration: str) -> bytes:
    """The int8 network (serialised ONNX) of a float32 colorgan export, calibrated on feeds
    (calibration_feeds); source_digest: SHA-256 of the model file the export was made from;
    calibration: what the feeds were made of, in words (kept in the metadata)."""
    if not feeds:
        raise ColorganError("quantisation needs calibration photos; none were given")
    onnx, _ = onnx_modules()
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    proto = onnx.load_from_string(fp32)
    meta = {p.key: p.value for p in proto.metadata_props}
    if meta.get("precision", "fp32") != "fp32":
        raise ColorganError("this ONNX model is quantised already; quantise the float32 one")
    with tempfile.TemporaryDirectory(prefix="colorgan-quantize-") as tmp:
        src, out = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        # a file, not a ModelProto: quantize_static moves a ModelProto's weights out of it
        atomic.write_bytes(src, fp32)
        quantize_static(
            src,
            out,
            _Feeds(feeds),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=float32_layers(proto),
        )
        result = onnx.load(str(out))
    meta.update(precision="int8", source_sha256=source_digest, calibration=calibration)
    onnx.helper.set_model_props(result, meta)
    result.doc_string = proto.doc_string + " (int8: colorgan.pipeline.quantize)"
    return result.SerializeToString()
