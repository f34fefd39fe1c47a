"""Colorizer: the one inference path every interface (CLI, web, video, ONNX) goes through.

    from colorgan import Colorizer
    colorizer = Colorizer.load("runs/my_model")          # or "default", or a .safetensors
    colorizer.colorize("grandma.jpg").save("grandma_color.png")

How a photo of any size is coloured (full resolution, the input's lightness kept exactly):
  1. L (CIE lightness) of the whole photo at its own resolution (colorgan.core.color).
  2. The network predicts ab at a working size (default: the model's working size):
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
     with the full-resolution L and converted to sRGB. Colours outside the sRGB gamut get
     less chroma (same L and hue) instead of being clipped, because clipping changes L.
So the result's L equals the input's up to 8-bit rounding of the output.

Memory: full-size arrays are float32/uint8 numpy, colour conversions run on ~1 MP strips,
tiles go through the network a few at a time, all under torch.inference_mode.

`predict_ab` is the tensor-level core; the network is any callable (B,1,H,W)->(B,C,H,W)
passed to Colorizer(), so an ONNX Runtime session can replace the torch module without
touching any pre- or post-processing here.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from colorgan.core import color, tiling
from colorgan.core.devices import resolve_device
from colorgan.core.errors import ColorganError
from colorgan.io import images as imageio
from colorgan.io import modelfile

log = logging.getLogger(__name__)

Network = Callable[[torch.Tensor], torch.Tensor]
MODES = ("single", "tiles", "hybrid")
STRIP_PIXELS = 1 << 20  # colour conversions run on strips of ~1 MP: ~100 MB of temporaries


BACKENDS = ("auto", "torch", "onnx")


def resolve_backend(backend: str, device: torch.device, path) -> str:
    """ "auto" -> "onnx" on the CPU when onnxruntime is installed (or for a .onnx file)."""
    if backend not in BACKENDS:
        raise ColorganError(f"backend={backend!r}; valid: {', '.join(BACKENDS)}")
    if str(path).endswith(".onnx"):
        if device.type != "cpu":
            raise ColorganError(f"{path}: an ONNX model runs on the CPU; drop --device")
        return "onnx"
    if backend == "onnx" and device.type != "cpu":
        raise ColorganError("backend onnx runs on the CPU; use --backend torch with CUDA")
    if backend == "auto":
        onnx_ok = importlib.util.find_spec("onnxruntime") is not None
        return "onnx" if device.type == "cpu" and onnx_ok else "torch"
    return backend


# --- geometry ------------------------------------------------------------------------------


def working_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) with the long side = size and the aspect ratio kept (rounded, at least 1)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom/right to multiples of `multiple`; repeated when the pad is wider
    than the image (a single reflect pad must be smaller than the side it mirrors)."""
    while True:
        h, w = x.shape[-2:]
        ph, pw = -h % multiple, -w % multiple
        if ph == pw == 0:
            return x
        mode = "reflect" if min(h, w) > 1 else "replicate"
        x = F.pad(x, (0, min(pw, max(w - 1, 1)), 0, min(ph, max(h - 1, 1))), mode=mode)


def run_padded(network, x: torch.Tensor, multiple: int, channels: int | None = None):
    """network(x) for any H, W: x padded up to `multiple`, the output checked (4-D, the
    padded size, `channels` if given) and cropped back to x's size."""
    h, w = x.shape[-2:]
    padded = pad_to_multiple(x, multiple)
    out = network(padded)
    wrong_channels = channels is not None and out.shape[1] != channels
    if out.ndim != 4 or tuple(out.shape[-2:]) != tuple(padded.shape[-2:]) or wrong_channels:
        raise ColorganError(
            f"the network returned shape {tuple(out.shape)} for input {tuple(padded.shape)}; "
            f"expected {channels or 'its'} channels at the input's size"
        )
    return out[..., :h, :w]


def resize(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear, antialiased when shrinking (no aliasing in the network's view of L)."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bilinear", align_corners=False, antialias=True)


# --- lightness and composition (colour maths only through colorgan.core.color) ----------------


@lru_cache(maxsize=2)
def _gray_lut(levels: int) -> np.ndarray:
    """L of every gray level: a gray photo's lightness is a table lookup, exact and instant."""
    ramp = torch.linspace(0.0, 1.0, levels).view(1, 1, 1, levels).expand(1, 3, 1, levels)
    return color.rgb_to_lab(ramp)[0, 0, 0].numpy().astype(np.float32)


def lightness(photo: imageio.Photo) -> np.ndarray:
    """CIE L in [0, 100] of the photo at full resolution, float32 (H, W)."""
    px = photo.pixels
    if px.ndim == 2 and px.dtype in (np.uint8, np.uint16):
        return _gray_lut(256 if px.dtype == np.uint8 else 65536)[px]
    out = np.empty(px.shape[:2], np.float32)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(px.dtype, 1.0)
    for rows in _strips(px.shape[0], px.shape[1]):
        x = torch.from_numpy(px[rows].astype(np.float32) / scale)
        x = x[None, None].expand(1, 3, -1, -1) if x.ndim == 2 else x.permute(2, 0, 1)[None]
        out[rows] = color.rgb_to_lab(x.contiguous())[0, 0].numpy()  # contiguous: ~25 % faster
    return out


def _strips(height: int, width: int) -> list[slice]:
    step = max(1, STRIP_PIXELS // max(width, 1))
    return [slice(y, min(y + step, height)) for y in range(0, height, step)]


def compose(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0, device="cpu") -> np.ndarray:
    """Full-res L (H,W) in [0,100] + network ab (2,H,W) in [-1,1] -> uint8 sRGB (H,W,3)."""
    out = np.empty((*L.shape, 3), np.uint8)
    for rows in _strips(*L.shape):
        lum = torch.from_numpy(L[rows]).to(device)[None, None]
        chroma = color.denormalize_ab(torch.from_numpy(ab[:, rows]).to(device)[None] * saturation)
        rgb = color.lab_to_rgb_in_gamut(torch.cat([lum, chroma], dim=1))
        out[rows] = (rgb[0].permute(1, 2, 0) * 255.0).round().to(torch.uint8).cpu().numpy()
    return out


def upsample_ab(ab: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """(2,h,w) -> (2,H,W) float32 numpy, bilinear (ab is smooth; bicubic would overshoot)."""
    if tuple(ab.shape[-2:]) == tuple(shape):
        return ab.float().cpu().numpy()
    up = F.interpolate(ab[None].float().cpu(), size=shape, mode="bilinear", align_corners=False)
    return up[0].numpy()


# --- the colourizer ------------------------------------------------------------------------


class Colorizer:
    """Colours photos with a generator (or any callable with the generator's contract)."""

    def __init__(
        self,
        network: Network,
        *,
        color_space: str = "lab",
        size_multiple: int = 1,
        working_size: int = 256,
        device: str | torch.device = "cpu",
        tile_batch: int = 4,
    ) -> None:
        if color_space not in color.COLOR_SPACES:
            raise ColorganError(f"color_space={color_space!r}; valid: {color.COLOR_SPACES}")
        if working_size < 1 or size_multiple < 1 or tile_batch < 1:
            raise ColorganError("working_size, size_multiple and tile_batch must be >= 1")
        self.network = network
        self.color_space = color_space
        self.size_multiple = int(size_multiple)
        self.working_size = int(working_size)
        self.device = resolve_device(device)
        self.tile_batch = tile_batch

    @classmethod
    def load(
        cls, path_or_name: str | Path = "default", device="cpu", working_size=None,
        backend: str = "torch",
    ):  # fmt: skip
        """The bundled model ("default"), a run dir, checkpoint dir, generator .safetensors or
        .onnx file; weights come only through safetensors or ONNX (never pickle). backend:
        "torch", "onnx" (ONNX Runtime on the CPU) or "auto" (onnx on CPU when onnxruntime is
        installed: measured 3-5x faster there, benchmarks/backends.py). working_size defaults
        to the training size."""
        device = resolve_device(device)
        path = modelfile.default_model_path() if str(path_or_name) == "default" else path_or_name
        backend = resolve_backend(backend, device, path)
        if backend == "onnx":
            from colorgan.pipeline.export import (
                onnx_generator,  # the [onnx] extra, imported only here
            )

            net = onnx_generator(path)  # a .onnx file, or the model exported once, cached
            cfg, multiple, device = net.config, net.size_multiple, torch.device("cpu")
        else:
            net, cfg = modelfile.load_generator(path, device)
            multiple = getattr(net, "size_multiple", 1)
        return cls(
            net,
            color_space=cfg.model.color_space,
            size_multiple=multiple,
            working_size=working_size or cfg.model.working_size or cfg.data.size,
            device=device,
        )

    @torch.inference_mode()
    def predict_ab(self, l_norm: torch.Tensor) -> torch.Tensor:
        """Network L (B,1,H,W) in [-1,1] -> network ab (B,2,H,W) in [-1,1], float32 on CPU.
        Pads to the generator's size multiple, crops back; RGB-mode output -> its ab."""
        channels = color.out_channels(self.color_space)
        x = l_norm.float().to(self.device)
        out = run_padded(self.network, x, self.size_multiple, channels).float()
        if self.color_space == "rgb":
            out = color.normalize_ab(color.rgb_to_lab(color.norm_to_rgb(out))[:, 1:])
        return out.cpu()

    def _working_l(self, L: np.ndarray) -> torch.Tensor:
        """Full-res L -> the single pass's network input (1, h, w), long side = working size."""
        shape = working_shape(*L.shape, self.working_size)
        return resize(color.normalize_l(torch.from_numpy(L))[None, None], shape)[0]

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

    @torch.inference_mode()
    def ab(self, L: np.ndarray, mode=None, tile=None, stride=None, small=None) -> np.ndarray:
        """Full-resolution network ab (2,H,W) float32 for full-resolution L (H,W) in [0,100].
        small: the single pass's prediction if already made (colorize_batch batches them)."""
        mode, tile, stride = self.plan(mode, tile, stride)
        shape = L.shape
        if mode != "tiles":
            small = small if small is not None else self.predict_ab(self._working_l(L)[None])[0]
            if mode == "single":
                return upsample_ab(small, shape)
        l_norm = color.normalize_l(torch.from_numpy(L)).numpy()
        ab = tiling.tiled_predict(self.predict_ab, l_norm, tile, stride, self.tile_batch)
        if mode == "hybrid":
            low = F.interpolate(torch.from_numpy(ab)[None], size=small.shape[-2:], mode="area")
            ab -= upsample_ab(low[0], shape)
            ab += upsample_ab(small, shape)
        return ab

    def colorize(self, image, saturation: float = 1.0, tile=None, stride=None, mode=None):
        """A path, PIL image, numpy array or imageio.Photo -> colour PIL image (RGB, or RGBA
        when the input had alpha), same size, EXIF/ICC in .info (imageio.write_image saves
        them). saturation scales ab: 0 gray, 1 as the model predicts, >1 more colourful."""
        return self._finish(imageio.read_image(image), saturation, (mode, tile, stride))

    @torch.inference_mode()
    def _finish(self, photo, saturation, plan, small=None, L=None) -> Image.Image:
        if saturation < 0:
            raise ColorganError(f"saturation={saturation}: must be >= 0")
        L = lightness(photo) if L is None else L
        ab = self.ab(L, *plan, small=small)
        return imageio.to_pil(compose(L, ab, saturation, self.device), photo)

    @torch.inference_mode()
    def colorize_batch(
        self, images: Iterable, saturation=1.0, tile=None, stride=None, mode=None, batch_size=8
    ) -> list[Image.Image]:
        """Many images; single-pass network calls are batched across images of the same
        working shape. Holds every input in memory: for folders of big photos loop colorize()."""
        photos = [imageio.read_image(im) for im in images]
        plan = (mode, tile, stride)
        Ls = [lightness(p) for p in photos]
        smalls: list[torch.Tensor | None] = [None] * len(photos)
        if self.plan(*plan)[0] != "tiles":
            smalls = self._batched_small([self._working_l(L) for L in Ls], batch_size)
        return [
            self._finish(p, saturation, plan, s, L)
            for p, s, L in zip(photos, smalls, Ls, strict=True)
        ]

    def _batched_small(self, inputs: Sequence[torch.Tensor], batch_size: int) -> list:
        out: list = [None] * len(inputs)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(inputs):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        for idx in by_shape.values():
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                ab = self.predict_ab(torch.stack([inputs[i] for i in chunk]))
                for i, a in zip(chunk, ab, strict=True):
                    out[i] = a
        return out
