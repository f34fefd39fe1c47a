"""Colorizer: the photo pipeline every interface (CLI, web, video) goes through.

    from colorgan import Colorizer, Hint
    colorizer = Colorizer.load("runs/my_model")          # or "default", a .safetensors, a .onnx
    colorizer.colorize("grandma.jpg").save("grandma_color.png")
    colorizer.colorize("car.jpg", hints=[Hint(120, 300, "#c0182a")], reference="red_car.jpg")

The stages, in the order `colorize` runs them (the CLI runs them on three threads, the video
runs the first pass of many frames in one call and stabilises each frame's colour):

    vivid = colorizer.using(saturation=1.2, mode="hybrid", tile=512)   # options, checked once
    photo, L = vivid.read("scan.tif")            # decode; CIE L at full resolution
    ab = vivid.colour(L, guide)                  # the network (a single pass, tiles or both)
    image = vivid.finish(photo, L, ab)           # L + ab -> sRGB, with alpha and metadata

How a photo of any size is coloured (full resolution, the input's lightness kept exactly):
  1. L (CIE lightness) of the whole photo at its own resolution.
  2. The network predicts ab (colorgan.pipeline.runner, batched by working shape):
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
  3. ab is upsampled (bilinear) to the photo's size, scaled by `saturation`, put together
     with the full-resolution L and converted to sRGB (colorgan.core.fastcolor, row blocks on
     both cores; in "single" mode ab is upsampled a block at a time, never held at full
     size). Colours outside the sRGB gamut get less chroma (same L and hue) instead of being
     clipped, because clipping changes L.
So the result's L equals the input's up to 8-bit rounding of the output.

Guidance (a model with `model.guidance`; colorgan.pipeline.guidance): hints and reference go
to the single pass; "hybrid" takes its colour from there, so its tiles get the reference only.
In "tiles" mode each tile gets the reference and the hints in it (patches of `size` pixels
at the photo's resolution); each hint is then spread over the whole photo at the working
size (colorgan.pipeline.propagate), as in "single" mode, not cut off at its tiles' edges.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable

import numpy as np
from PIL import Image

from colorgan.core import color, fastcolor, resample
from colorgan.core.errors import ColorganError
from colorgan.io import images
from colorgan.pipeline import guidance, options, propagate
from colorgan.pipeline.geometry import to_working, working_l, working_shape
from colorgan.pipeline.guidance import Guide, Hint
from colorgan.pipeline.runner import NOT_GUIDED, ModelRunner

log = logging.getLogger(__name__)

VIVIDNESS_IGNORED = "vividness applies to distribution-head models only; this one ignores it"
__all__ = ["Colorizer", "Hint", "ModelRunner"]


class Colorizer:
    """Colours photos with a model (a ModelRunner) and the options set by `using`."""

    def __init__(self, model, **model_options) -> None:
        """model: a ModelRunner, or a network (any callable with the generator's contract)
        with ModelRunner's keyword options (color_space, head, working_size, ...)."""
        if not isinstance(model, ModelRunner):
            model = ModelRunner(model, **model_options)
        self.model = model
        self.mode, self.tile, self.stride = "single", None, None
        self.saturation = options.SATURATION.default
        self.vividness = None  # options.DEFAULT_VIVIDNESS
        self.restore: tuple[str, ...] = ()  # repair steps before colour (pipeline.restore)

    @classmethod
    def load(
        cls,
        model="default",
        device="auto",
        working_size=None,
        backend="auto",
        precision="auto",
        threads=None,
    ):
        """A model as ModelRunner.load takes it: "default" (the bundled model), a run dir,
        checkpoint dir, generator .safetensors or .onnx file; precision "auto", "int8" or
        "fp32" (colorgan.pipeline.loading.choose_precision); threads: ONNX Runtime's
        intra-op threads (default: one per core)."""
        return cls(ModelRunner.load(model, device, working_size, backend, precision, threads))

    @classmethod
    def from_model(cls, loaded, working_size: int | None = None) -> Colorizer:
        """A model loaded by colorgan.pipeline.loading.load_model."""
        return cls(ModelRunner.from_model(loaded, working_size))

    # what the model is (read by the interfaces: the web page offers what it can do)
    working_size = property(lambda self: self.model.working_size)
    head = property(lambda self: self.model.head)
    guided = property(lambda self: self.model.guided)
    temperature = property(lambda self: self.model.temperature)
    device = property(lambda self: self.model.device)
    precision = property(lambda self: self.model.precision)

    # --- options ----------------------------------------------------------------------------

    def using(
        self,
        *,
        size=None,
        mode=None,
        tile=None,
        stride=None,
        vividness=None,
        saturation=None,
        restore=None,
    ) -> Colorizer:
        """A Colorizer with these options (colorgan.pipeline.options: each checked there),
        sharing this one's network; None keeps this one's value, and self is returned when
        nothing is given. mode defaults to "single", or "hybrid" with a tile; tile to the
        working size (rounded up to the model's size multiple); stride to 3/4 of the tile.
        restore: repair the lightness before colour (`read` does): True (the default steps),
        False, or steps of colorgan.pipeline.restore ("scratches,dust", "all", a tuple)."""
        tiling = (mode, tile, stride)
        if all(v is None for v in (size, vividness, saturation, restore, *tiling)):
            return self
        other = copy.copy(self)
        if restore is not None:
            other.restore = _repair_steps(restore)
        if size is not None:
            other.model = self.model.with_working_size(options.SIZE.check(size))
        if saturation is not None:
            other.saturation = options.SATURATION.check(saturation)
        if vividness is not None:
            other.vividness = options.VIVIDNESS.check(vividness)
            if self.head != "distribution":
                log.warning("%s", VIVIDNESS_IGNORED)
        if any(v is not None for v in tiling):
            checked = (options.MODE, options.TILE, options.STRIDE)
            other._plan(*(o.check(v) for o, v in zip(checked, tiling, strict=True)))
        return other

    def _plan(self, mode: str | None, tile: int | None, stride: int | None) -> None:
        multiple = self.model.size_multiple
        self.mode = mode or ("single" if tile is None else "hybrid")
        if self.mode == "single":
            self.tile = self.stride = None
            return
        tile = tile or -(-self.working_size // multiple) * multiple
        if tile % multiple:
            up = -(-tile // multiple) * multiple
            raise ColorganError(
                f"tile={tile}: must be a multiple of {multiple} for this model (e.g. {up})"
            )
        stride = stride or max(1, tile * 3 // 4)
        if not stride <= tile:
            raise ColorganError(f"stride={stride}: must be between 1 and the tile size {tile}")
        self.tile, self.stride = tile, stride

    def guide(self, hints=None, reference=None) -> Guide:
        """Validated hints (Hint, dict or "X,Y,#RRGGBB[,SIZE]") and reference (a path, PIL
        image, array or Photo; read once here, then reused for every photo or frame)."""
        hints = guidance.parse_hints(hints)
        if (hints or reference is not None) and not self.guided:
            raise ColorganError(NOT_GUIDED)
        bins = self.model.bins
        ref = None if reference is None else guidance.reference_vector(reference, bins)
        return Guide(hints, ref)

    def _as_guide(self, guide, hints, reference) -> Guide:
        if guide is not None and (hints or reference is not None):
            raise ColorganError("pass either guide= or hints=/reference=, not both")
        return guide if guide is not None else self.guide(hints, reference)

    # --- the stages ---------------------------------------------------------------------------

    def read(self, image, max_pixels: int = images.MAX_PIXELS):
        """A path, PIL image, numpy array or images.Photo -> (Photo, its CIE L in [0, 100]
        at full resolution, float32 (H, W))."""
        photo = images.read_image(image, max_pixels=max_pixels)
        return photo, self.repaired(fastcolor.lightness(photo.pixels))

    def repaired(self, L: np.ndarray) -> np.ndarray:
        """L repaired by the `restore` steps (colorgan.pipeline.restore: OpenCV and the
        damage detector are loaded only when there are some), or L itself."""
        if not self.restore:
            return L
        from colorgan.pipeline import restore

        return restore.repair(L, self.restore).L

    def first_pass(self, Ls: list[np.ndarray], guides=None, batch_size: int = 8) -> list:
        """The single pass of each full-resolution L (its working-size ab), batched across
        photos of the same working shape, for `colour(small=)`; Nones in "tiles" mode, which
        has none."""
        if self.mode == "tiles":
            return [None] * len(Ls)
        return self.model.predict_many(Ls, guides, self.vividness, batch_size)

    def colour(
        self,
        L: np.ndarray,
        guide: Guide | None = None,
        *,
        small=None,
        adjust: Callable | None = None,
    ) -> np.ndarray:
        """The ab that `finish` composes with full-resolution L (H,W) in [0,100]: (2,h,w) at
        the working size in "single" mode (finish upsamples it block by block: a 12 MP
        photo's full-size ab is 96 MB), else (2,H,W). small: first_pass's result for L, if
        made. adjust: applied to the working-size colour (2,h,w) before the full-size ab
        is made (video's stabiliser); in "tiles" mode to the tiles' ab averaged onto that
        grid, the change added back upsampled."""
        shape, work = L.shape, working_shape(*L.shape, self.working_size)
        if self.mode != "tiles":
            small = self.first_pass([L], [guide])[0] if small is None else small
            if adjust is not None:
                small = np.asarray(adjust(small), np.float32)
        if self.mode == "single":
            return small
        ref_only = Guide((), guide.reference) if guide and guide.reference is not None else None
        tile_guide = guide if self.mode == "tiles" else ref_only
        ab = self.model.predict_tiles(L, self.tile, self.stride, tile_guide, self.vividness)
        if self.mode == "hybrid":
            ab -= resample.bilinear(resample.area(ab, small.shape[-2:]), shape)
            ab += resample.bilinear(small, shape)
            return ab
        if guide and guide.hints:
            l_work = color.denormalize_l(working_l(L, self.working_size)[0])
            hint = guidance.hint_map(guide.hints, shape, work)
            propagate.spread_over_full_size(ab, l_work, hint)
        if adjust is not None:
            coarse = resample.area(ab, work)
            ab += resample.bilinear(adjust(coarse) - coarse, shape)
        return ab

    def compose(self, L: np.ndarray, ab: np.ndarray) -> np.ndarray:
        """Full-res L (H,W) in [0,100] + ab (2,H,W), or smaller (upsampled bilinearly on the
        way), scaled by the saturation -> uint8 sRGB (H,W,3)."""
        return fastcolor.compose(L, np.asarray(ab, np.float32), self.saturation)

    def finish(self, photo: images.Photo, L: np.ndarray, ab: np.ndarray) -> Image.Image:
        """The result: full-res L + ab -> PIL image with the photo's alpha and metadata
        (EXIF/ICC in .info, written by images.write_image)."""
        return images.to_pil(self.compose(L, ab), photo)

    # --- whole photos -------------------------------------------------------------------------

    def colorize(
        self, image, *, hints=None, reference=None, guide=None, **option_values
    ) -> Image.Image:
        """A path, PIL image, numpy array or images.Photo -> colour PIL image (RGB, or RGBA
        when the input had alpha), same size, EXIF/ICC in .info.
        hints: Hint objects, dicts {"x","y","color"[,"size"]} or "X,Y,#RRGGBB[,SIZE]";
        reference: a photo whose colours to follow (guided models); guide: an already
        validated Guide (self.guide(...)) instead of hints/reference. option_values: as
        `using` takes them (saturation, vividness, mode, tile, stride, size, restore)."""
        colorizer = self.using(**option_values)
        guide = colorizer._as_guide(guide, hints, reference)
        photo, L = colorizer.read(image)
        return colorizer.finish(photo, L, colorizer.colour(L, guide))

    def colorize_batch(
        self, inputs: Iterable, *, hints=None, reference=None, batch_size=8, **option_values
    ) -> list[Image.Image]:
        """Many images with the same options (and guide); single passes batched across
        images of the same working shape. Holds every input in memory: for folders of big
        photos loop colorize()."""
        colorizer = self.using(**option_values)
        guide = colorizer.guide(hints, reference)
        read = [colorizer.read(image) for image in inputs]
        Ls = [L for _, L in read]
        smalls = colorizer.first_pass(Ls, [guide] * len(Ls), batch_size)
        return [
            colorizer.finish(photo, L, colorizer.colour(L, guide, small=small))
            for (photo, L), small in zip(read, smalls, strict=True)
        ]

    def suggest(self, image, x, y, k: int = 5, *, hints=None, reference=None, guide=None):
        """The k most likely colours at pixel (x, y) of the photo: [("#rrggbb", probability)],
        most likely first, from the distribution head's prediction there (with the other
        hints and reference), each with the photo's own lightness at that point."""
        if self.head != "distribution":
            raise ColorganError(
                "suggested colours need a model with a distribution head; this one predicts "
                "one colour per pixel"
            )
        k = options.SUGGESTIONS.check(k)
        guide = self._as_guide(guide, hints, reference)
        _, L = self.read(image)
        guidance.check_inside((Hint(x, y, "#000000"),), L.shape)
        small = working_l(L, self.working_size)
        hint, ref = guidance.batch([(L.shape, guide)], small.shape[-2:], self.model.bins)
        logits = self.model.forward(small[None], hint, ref)[0]
        col, row = to_working(x, y, L.shape, tuple(logits.shape[-2:]))
        bins = self.model.bins
        return guidance.top_colors(bins, logits[:, row, col], float(L[int(y), int(x)]), k)


def _repair_steps(value) -> tuple[str, ...]:
    """restore= of `using`: False -> none; True -> the default steps; else parsed. The
    networks the steps need are loaded now: a missing or damaged one is an error before any
    photo is read."""
    if value is False:
        return ()
    from colorgan.pipeline import restore

    steps = restore.parse_steps(None if value is True else value)
    restore.load_networks(steps)
    return steps
