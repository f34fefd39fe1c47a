"""Colorizer: the one colour pipeline every interface (CLI, web, video, evaluate) goes through.

    from colorgan import Colorizer
    colorizer = Colorizer.load("runs/my_model")          # or "default", a .safetensors, a .onnx
    colorizer.colorize("grandma.jpg").save("grandma_color.png")
    colorizer.colorize("car.jpg", hints=[Hint(120, 300, "#c0182a")], reference="red_car.jpg")

How a photo of any size is coloured (full resolution, the input's lightness kept exactly):
  1. L (CIE lightness) of the whole photo at its own resolution (steps.lightness).
  2. The network predicts ab (`predict`, batched by working shape in `predict_many`):
     * "single": the photo resized so its long side is the working size (aspect ratio kept),
       reflect-padded to a multiple of the generator's `size_multiple`, one pass.
     * "tiles": overlapping tiles of `tile` pixels cut from the photo at its own resolution,
       `stride` apart, blended with raised-cosine weights (colorgan.core.tiling).
     * "hybrid": the single pass gives the colour, the tiles the detail. Exactly:
       ab = up(G) + (T - up(down(T))), G = the single pass's ab, T = the tiled ab,
       down = area average onto the single pass's grid, up = bilinear to full size;
       so colour variations at the single pass's scale and coarser come from it (up to the
       slight blur of one up/down round trip) and tiles cannot disagree on colour, while
       finer colour edges come from the tiles.
     A distribution-head model returns logits over ab bins at half size: they are decoded
     by the annealed mean at temperature `vividness` (colorgan.core.abbins) and upsampled
     to the input's size (bilinear), so every mode above sees plain ab.
  3. ab is upsampled (bilinear) to the photo's size, scaled by `saturation`, put together
     with the full-resolution L and converted to sRGB. Colours outside the sRGB gamut get
     less chroma (same L and hue) instead of being clipped, because clipping changes L.
So the result's L equals the input's up to 8-bit rounding of the output.

Guidance (a model with `model.guidance`; colorgan.pipeline.guidance): hints and reference go
to the single pass; "hybrid" takes its colour from there, so its tiles get the reference only.
In "tiles" mode each tile gets the reference and the hints in it (patches of `size` pixels
at the photo's resolution); each hint is then spread over the whole photo at the working
size (colorgan.pipeline.propagate), as in "single" mode, not cut off at its tiles' edges.

Arrays: everything here is numpy (float32 network inputs and outputs, full-size L and the
uint8 result); colour conversion at full size is colorgan.core.fastcolor (row blocks on both
cores, no full-size temporaries; in "single" mode ab is upsampled a block at a time while
composing, never held at full size). The network is any callable with the generator's
contract: torch tensors in and out (a torch module or a test's stand-in: the arrays go
through torch for it, under inference_mode), or numpy arrays when it says `numpy_io = True`
(colorgan.pipeline.onnxrun.OnnxGenerator, ONNX Runtime): then colouring a photo never
imports torch. forward and predict answer in the kind they are given (tensor or array).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import numpy as np
from PIL import Image

from colorgan.core import color, fastcolor, resample, tiling
from colorgan.core.devices import device_name
from colorgan.core.errors import ColorganError
from colorgan.io import images
from colorgan.pipeline import guidance, propagate, steps
from colorgan.pipeline.guidance import Guide, Hint
from colorgan.pipeline.steps import (
    check_saturation,
    check_vividness,
    lightness,
    upsample_ab,
    working_shape,
)

log = logging.getLogger(__name__)

Network = Callable  # (B,1,H,W) [, hint, ref] -> output; torch tensors, or numpy if numpy_io
MODES = ("single", "tiles", "hybrid")
HEADS = ("ab", "distribution")
VIVIDNESS_IGNORED = "vividness applies to distribution-head models only; this one ignores it"
__all__ = ["Colorizer", "Hint", "MODES"]


class Colorizer:
    """Colours photos with a generator (or any callable with the generator's contract)."""

    def __init__(
        self,
        network: Network,
        *,
        color_space: str = "lab",
        size_multiple: int = 1,
        working_size: int = 256,
        device="cpu",
        tile_batch: int = 4,
        head: str = "ab",
        guided: bool = False,
        temperature: float = 1.0,
        bins=None,
    ) -> None:
        if color_space not in color.COLOR_SPACES:
            raise ColorganError(f"color_space={color_space!r}; valid: {color.COLOR_SPACES}")
        if head not in HEADS:
            raise ColorganError(f"head={head!r}; valid: {', '.join(HEADS)}")
        if working_size < 1 or size_multiple < 1 or tile_batch < 1:
            raise ColorganError("working_size, size_multiple and tile_batch must be >= 1")
        self.network = network
        self.color_space = color_space
        self.size_multiple = int(size_multiple)
        self.working_size = int(working_size)
        self.device = device_name(device)  # a string: "cpu", "cuda", "cuda:1"
        self.tile_batch = tile_batch
        self.head = head
        self.guided = bool(guided)  # the network takes (l_norm, hint, ref)
        self.temperature = check_vividness(temperature)  # the model's default vividness
        self._bins = bins  # colorgan.core.abbins unless given (tests pass small stand-ins)

    @classmethod
    def load(cls, model="default", device="auto", working_size=None, backend="auto"):
        """The bundled model ("default"), a run dir, checkpoint dir, generator .safetensors or
        .onnx file (colorgan.pipeline.loading). backend: "auto" (as every command: ONNX
        Runtime on the CPU when installed, measured 3-5x faster there; torch on CUDA),
        "torch" or "onnx". working_size defaults to the model's."""
        from colorgan.pipeline.loading import load_model  # builds models: only when loading

        return cls.from_model(load_model(model, backend, device), working_size)

    @classmethod
    def from_model(cls, loaded, working_size: int | None = None) -> Colorizer:
        m = loaded.config.model
        return cls(
            loaded.network,
            color_space=m.color_space,
            size_multiple=loaded.size_multiple,
            working_size=working_size or m.working_size or loaded.config.data.size,
            device=loaded.device,
            head=m.head,
            guided=m.guidance,
            temperature=m.temperature,
        )

    def with_working_size(self, size: int | None) -> Colorizer:
        """The same network at another working size: a new object (the web server shares
        one Colorizer between threads), or self when nothing changes."""
        if size is None or size == self.working_size:
            return self
        if size < 1:
            raise ColorganError(f"working size {size}: must be >= 1")
        other = copy.copy(self)
        other.working_size = int(size)
        return other

    @property
    def bins(self):
        if self._bins is None:
            from colorgan.core import abbins  # the distribution head's bins

            self._bins = abbins
        return self._bins

    # --- one network pass (arrays; tensors in -> tensors out) -----------------------------

    def forward(self, l_norm, hint=None, ref=None):
        """The network's own output for L (B,1,H,W) in [-1,1] (padded to its size multiple
        and cropped back), float32 on the CPU: ab (B,2,H,W), RGB (B,3,H,W) or logits
        (B,Q,H/2,W/2) for a distribution head. hint (B,3,H,W), ref (B,Q+1): guided only.
        numpy arrays in -> numpy out; torch tensors in -> tensors out."""
        return steps.like(
            self._forward(steps.as_array(l_norm), steps.as_array(hint), steps.as_array(ref)), l_norm
        )

    def _forward(self, x: np.ndarray, hint=None, ref=None) -> np.ndarray:
        extra = ()
        if self.guided:
            hint = np.zeros((len(x), 3, *x.shape[-2:]), np.float32) if hint is None else hint
            ref = np.zeros((len(x), self.bins.Q + 1), np.float32) if ref is None else ref
            ref = np.broadcast_to(ref, (len(x), ref.shape[-1])) if ref.ndim == 1 else ref
            extra = (hint, np.ascontiguousarray(ref))
        elif hint is not None or ref is not None:
            raise ColorganError(
                "this model takes no hints or reference (it was trained without guidance)"
            )
        net = self.network
        if not getattr(net, "numpy_io", False):
            net = partial(steps.torch_call, net, self.device)
        if self.head == "distribution":
            out = steps.run_padded(net, x, self.size_multiple, scale=2, extra=extra)
        else:
            channels = color.out_channels(self.color_space)
            out = steps.run_padded(net, x, self.size_multiple, channels, extra=extra)
        return np.asarray(out, np.float32)

    def predict(self, l_norm, hint=None, ref=None, vividness=None):
        """Network ab (B,2,H,W) in [-1,1], float32 on the CPU, at the input's size, for
        L (B,1,H,W) in [-1,1]; RGB output -> its ab; logits -> annealed mean at
        `vividness` (default: the model's temperature), upsampled bilinearly.
        numpy arrays in -> numpy out; torch tensors in -> tensors out."""
        ab = self._predict(
            steps.as_array(l_norm), steps.as_array(hint), steps.as_array(ref), vividness
        )
        return steps.like(ab, l_norm)

    def _predict(self, x: np.ndarray, hint=None, ref=None, vividness=None, spread=True):
        ab = self._decode(self._forward(x, hint, ref), x, vividness)
        if not spread or hint is None or not np.any(hint[:, 2]):
            return ab
        # the network gives hinted pixels their colour; the region around them: propagate
        L = color.denormalize_l(x[:, 0])
        return np.stack([propagate.spread_hints(*each) for each in zip(ab, L, hint, strict=True)])

    def _decode(self, out: np.ndarray, x: np.ndarray, vividness=None) -> np.ndarray:
        """The network's output as working-size ab (B,2,h,w) in [-1,1]."""
        if self.head == "distribution":
            ab = np.asarray(self.bins.annealed_mean(out, self._temperature(vividness)))
            return resample.bilinear(ab.astype(np.float32), x.shape[-2:])
        if vividness is not None:
            steps.warn_once(VIVIDNESS_IGNORED)
        if self.color_space == "rgb":
            lab = fastcolor.rgb_to_lab(color.norm_to_rgb(out))
            out = color.normalize_ab(lab[:, 1:]).astype(np.float32)
        return out

    def _temperature(self, vividness) -> float:
        return self.temperature if vividness is None else check_vividness(vividness)

    # --- guidance ------------------------------------------------------------------------------

    def guide(self, hints=None, reference=None) -> Guide:
        """Validated hints (Hint, dict or "X,Y,#RRGGBB[,SIZE]") and reference (a path, PIL
        image, array or Photo; read once here, then reused for every photo or frame)."""
        hints = guidance.parse_hints(hints)
        if (hints or reference is not None) and not self.guided:
            raise ColorganError(
                "this model takes no hints or reference (it was trained without guidance)"
            )
        ref = None if reference is None else guidance.reference_vector(reference, self.bins)
        return Guide(hints, ref)

    def _as_guide(self, guide, hints, reference) -> Guide:
        if guide is not None and (hints or reference is not None):
            raise ColorganError("pass either guide= or hints=/reference=, not both")
        return guide if guide is not None else self.guide(hints, reference)

    # --- single passes of many photos, batched ---------------------------------------------

    def predict_many(self, Ls: Sequence[np.ndarray], guides=None, vividness=None, batch_size=8):
        """Working-size ab (2,h,w) of each full-resolution L (H,W) in [0,100]; one network
        call per `batch_size` photos of the same working shape. guides: one Guide (or None)
        per photo: a photo without one gets zero hints and reference (automatic colour)."""
        guides = list(guides) if guides is not None else [None] * len(Ls)
        inputs = [steps.working_l(L, self.working_size) for L in Ls]
        out: list = [None] * len(inputs)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(inputs):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        for shape, idx in by_shape.items():
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                hint, ref = guidance.batch([(Ls[i].shape, guides[i]) for i in chunk], shape, self)
                x = np.stack([inputs[i] for i in chunk])
                ab = self._predict(x, hint, ref, vividness)
                for i, a in zip(chunk, ab, strict=True):
                    out[i] = a
        return out

    # --- one photo ------------------------------------------------------------------------------

    def plan(self, mode: str | None, tile: int | None, stride: int | None):
        """Validated (mode, tile, stride): mode defaults to "single", or "hybrid" with a tile."""
        mode = mode or ("single" if tile is None else "hybrid")
        if mode not in MODES:
            raise ColorganError(f"mode={mode!r}; valid: {', '.join(MODES)}")
        if mode == "single":
            return mode, None, None
        tile = tile or -(-self.working_size // self.size_multiple) * self.size_multiple
        if tile % self.size_multiple:
            up = -(-tile // self.size_multiple) * self.size_multiple
            raise ColorganError(
                f"tile={tile}: must be a multiple of {self.size_multiple} for this model "
                f"(e.g. {up})"
            )
        stride = stride or max(1, tile * 3 // 4)
        if not 1 <= stride <= tile:
            raise ColorganError(f"stride={stride}: must be between 1 and the tile size {tile}")
        return mode, tile, stride

    def ab(self, L, mode=None, tile=None, stride=None, *, guide=None, vividness=None,
           small=None, adjust=None, full_size=True) -> np.ndarray:  # fmt: skip
        """Full-resolution network ab (2,H,W) float32 for full-resolution L (H,W) in [0,100];
        full_size=False: in "single" mode the working-size ab (2,h,w), which compose upsamples
        block by block (a 12 MP photo's full-size ab is 96 MB). small: the single pass's ab
        if already made (predict_many batches them). adjust: applied to the working-size
        colour (2,h,w) before the full-size ab is made (video's stabiliser); in "tiles" mode
        to the tiles' ab averaged onto that grid, the change added back upsampled."""
        mode, tile, stride = self.plan(mode, tile, stride)
        shape, work = L.shape, working_shape(*L.shape, self.working_size)
        if mode != "tiles" and small is None:
            small = self.predict_many([L], [guide], vividness)[0]
        if mode != "tiles" and adjust is not None:
            small = np.asarray(adjust(small), np.float32)
        if mode == "single":
            return upsample_ab(small, shape) if full_size else small
        ab = self._tiled(L, tile, stride, guide if mode == "tiles" else _ref_only(guide), vividness)
        if mode == "hybrid":
            ab -= upsample_ab(steps.area_down(ab, small.shape[-2:]), shape)
            ab += upsample_ab(small, shape)
            return ab
        if guide and guide.hints:
            l_work = color.denormalize_l(steps.working_l(L, self.working_size)[0])
            steps.spread_coarse(ab, l_work, guidance.hint_map(guide.hints, shape, work))
        if adjust is not None:
            coarse = steps.area_down(ab, work)
            ab += upsample_ab(adjust(coarse) - coarse, shape)
        return ab

    def _tiled(self, L, tile, stride, guide, vividness) -> np.ndarray:
        l_norm = color.normalize_l(L.astype(np.float32, copy=False))
        ref = guide.reference if guide else None
        extra = None
        if guide and guide.hints:
            extra = guidance.hint_map(guide.hints, L.shape, L.shape)

        def run(x: np.ndarray) -> np.ndarray:
            hint = x[:, 1:] if x.shape[1] > 1 else None
            return self._predict(x[:, :1], hint, ref, vividness, spread=False)  # ab() spreads

        return tiling.tiled_predict(run, l_norm, tile, stride, self.tile_batch, extra)

    def compose(self, L: np.ndarray, ab: np.ndarray, saturation=1.0) -> np.ndarray:
        """Full-res L (H,W) in [0,100] + ab (2,H,W), or smaller (upsampled bilinearly on the
        way), scaled by saturation -> uint8 sRGB (H,W,3)."""
        return steps.compose(L, ab, check_saturation(saturation))

    def finish(self, photo: images.Photo, L: np.ndarray, ab: np.ndarray, saturation=1.0):
        """The result: full-res L + ab (scaled by saturation) -> PIL image with the photo's
        alpha and metadata (EXIF/ICC in .info, written by images.write_image)."""
        return images.to_pil(self.compose(L, ab, saturation), photo)

    def colorize(self, image, *, hints=None, reference=None, vividness=None, saturation=1.0,
                 tile=None, stride=None, mode=None, guide=None) -> Image.Image:  # fmt: skip
        """A path, PIL image, numpy array or images.Photo -> colour PIL image (RGB, or RGBA
        when the input had alpha), same size, EXIF/ICC in .info.
        hints: Hint objects, dicts {"x","y","color"[,"size"]} or "X,Y,#RRGGBB[,SIZE]";
        reference: a photo whose colours to follow (guided models); vividness: the
        distribution head's temperature in (0, 1], lower = more vivid; saturation scales
        ab: 0 gray, 1 as the model predicts, >1 more colourful. guide: an already
        validated Guide (self.guide(...)) instead of hints/reference."""
        guide = self._as_guide(guide, hints, reference)
        check_saturation(saturation)
        photo = images.read_image(image)
        L = lightness(photo)
        ab = self.ab(L, mode, tile, stride, guide=guide, vividness=vividness, full_size=False)
        return self.finish(photo, L, ab, saturation)

    def colorize_batch(self, inputs: Iterable, *, hints=None, reference=None, vividness=None,
                       saturation=1.0, tile=None, stride=None, mode=None,
                       batch_size=8):  # fmt: skip
        """Many images with the same settings (and guide); single passes batched across
        images of the same working shape. Holds every input in memory: for folders of big
        photos loop colorize()."""
        guide = self.guide(hints, reference)
        check_saturation(saturation)
        photos = [images.read_image(im) for im in inputs]
        Ls = [lightness(p) for p in photos]
        smalls: list = [None] * len(photos)
        if self.plan(mode, tile, stride)[0] != "tiles":
            smalls = self.predict_many(Ls, [guide] * len(Ls), vividness, batch_size)
        out = []
        for p, s, L in zip(photos, smalls, Ls, strict=True):
            ab = self.ab(L, mode, tile, stride, guide=guide, vividness=vividness, small=s,
                         full_size=False)  # fmt: skip
            out.append(self.finish(p, L, ab, saturation))
        return out

    def suggest(self, image, x, y, k: int = 5, *, hints=None, reference=None, guide=None):
        """The k most likely colours at pixel (x, y) of the photo: [("#rrggbb", probability)],
        most likely first, from the distribution head's prediction there (with the other
        hints and reference), each with the photo's own lightness at that point."""
        if self.head != "distribution":
            raise ColorganError(
                "suggested colours need a model with a distribution head; this one predicts "
                "one colour per pixel"
            )
        if not 1 <= k <= 64:
            raise ColorganError(f"k={k}: ask for 1 to 64 suggestions")
        guide = self._as_guide(guide, hints, reference)
        L = lightness(images.read_image(image))
        guidance.check_inside((Hint(x, y, "#000000"),), L.shape)
        small = steps.working_l(L, self.working_size)
        hint, ref = guidance.batch([(L.shape, guide)], small.shape[-2:], self)
        logits = self._forward(small[None], hint, ref)[0]
        col, row = steps.to_working(x, y, L.shape, tuple(logits.shape[-2:]))
        return guidance.top_colors(self.bins, logits[:, row, col], float(L[int(y), int(x)]), k)


def _ref_only(guide):
    return Guide((), guide.reference) if guide and guide.reference is not None else None
