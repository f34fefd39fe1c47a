"""ModelRunner: a colour network run on numpy arrays of any size, its output decoded to ab.

    runner = ModelRunner.load("default")                  # or ModelRunner(network, ...)
    ab = runner.predict(l_norm)                           # (B,1,H,W) in [-1,1] -> (B,2,H,W)
    smalls = runner.predict_many([L1, L2], guides)        # full-res L -> working-size ab

It knows the model (its colour space, head, size multiple, whether it takes guidance and its
working size) and nothing of photos: colorgan.pipeline.colorizer builds the photo pipeline
on it, colorgan.evaluation scores it on crops.

The network is any callable with the generator's contract: torch tensors in and out (a torch
module or a test's stand-in: the arrays go through torch for it, under inference_mode), or
numpy arrays when it says `numpy_io = True` (colorgan.pipeline.onnxrun.OnnxGenerator, ONNX
Runtime): then colouring a photo never imports torch. forward and predict answer in the kind
they are given (tensor or array). A distribution-head model returns logits over ab bins at
half size: they are decoded with spatial context at the model's temperature, the
`vividness` knob setting a chroma gain (colorgan.pipeline.decode), and upsampled to the
input's size (bilinear).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from colorgan.core import color, fastcolor, parallel, resample, tiling
from colorgan.core.devices import device_name
from colorgan.core.errors import ColorganError
from colorgan.pipeline import decode, guidance, options, propagate, skin
from colorgan.pipeline.geometry import working_l

Network = Callable  # (B,1,H,W) [, hint, ref] -> output; torch tensors, or numpy if numpy_io
HEADS = ("ab", "distribution")
NOT_GUIDED = "this model takes no hints or reference (it was trained without guidance)"


class ModelRunner:
    """Runs a generator (or any callable with its contract) on numpy arrays, in batches."""

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
        precision: str = "fp32",
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
        self.temperature = decode.check_temperature(temperature)  # the decoding's sharpness
        self._bins = bins  # colorgan.core.abbins unless given (tests pass small stand-ins)
        self.precision = precision  # the network's, "int8" or "fp32" (said in reports)

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
        """The bundled model ("default"), a run dir, checkpoint dir, generator .safetensors or
        .onnx file (colorgan.pipeline.loading). backend: "auto" (as every command: ONNX
        Runtime on the CPU when installed, measured 1.5-2.3x faster there; torch on CUDA),
        "torch" or "onnx". precision: "auto" (the model's int8 network where it is faster,
        colorgan.pipeline.loading.choose_precision), "int8" or "fp32". working_size defaults
        to the model's. threads: ONNX Runtime's intra-op threads (default: one per core; a
        batch job's actors take a share each)."""
        from colorgan.pipeline.loading import load_model  # builds models: only when loading

        model = load_model(model, backend, device, precision, threads)
        return cls.from_model(model, working_size)

    @classmethod
    def from_model(cls, loaded, working_size: int | None = None) -> ModelRunner:
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
            precision=loaded.precision,
        )

    def with_working_size(self, size: int | None) -> ModelRunner:
        """The same network at another working size: a new object (the web server shares
        one runner between threads), or self when nothing changes."""
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

    # --- one network pass -------------------------------------------------------------------

    def forward(self, l_norm, hint=None, ref=None):
        """The network's own output for L (B,1,H,W) in [-1,1] (padded to its size multiple
        and cropped back), float32 on the CPU: ab (B,2,H,W), RGB (B,3,H,W) or logits
        (B,Q,H/2,W/2) for a distribution head. hint (B,3,H,W), ref (B,Q+1): guided only."""
        return _like(self._forward(_array(l_norm), _array(hint), _array(ref)), l_norm)

    def _forward(self, x: np.ndarray, hint=None, ref=None) -> np.ndarray:
        extra = ()
        if self.guided:
            hint = np.zeros((len(x), 3, *x.shape[-2:]), np.float32) if hint is None else hint
            ref = np.zeros((len(x), self.bins.Q + 1), np.float32) if ref is None else ref
            ref = np.broadcast_to(ref, (len(x), ref.shape[-1])) if ref.ndim == 1 else ref
            extra = (hint, np.ascontiguousarray(ref))
        elif hint is not None or ref is not None:
            raise ColorganError(NOT_GUIDED)
        net = self.network
        if not getattr(net, "numpy_io", False):
            net = partial(_torch_call, net, self.device)
        if self.head == "distribution":
            return run_padded(net, x, self.size_multiple, scale=2, extra=extra)
        channels = color.out_channels(self.color_space)
        return run_padded(net, x, self.size_multiple, channels, extra=extra)

    def predict(self, l_norm, hint=None, ref=None, vividness=None):
        """Network ab (B,2,H,W) in [-1,1], float32 on the CPU, at the input's size, for
        L (B,1,H,W) in [-1,1]; RGB output -> its ab; logits -> decoded at `vividness`
        (colorgan.pipeline.decode; default options.VIVIDNESS's; other heads ignore it),
        upsampled bilinearly. Hints are spread over their region (colorgan.pipeline.propagate)."""
        ab = self._predict(_array(l_norm), _array(hint), _array(ref), vividness)
        return _like(ab, l_norm)

    def _predict(self, x: np.ndarray, hint=None, ref=None, vividness=None, spread=True):
        pending = self._faces_meanwhile(x) if spread else None
        out = self._forward(x, hint, ref)
        ab = self._decode(out, x, vividness, faces=pending.result() if pending else None)
        if not spread or hint is None or not np.any(hint[:, 2]):
            return ab
        # the network gives hinted pixels their colour; the region around them: propagate
        L = color.denormalize_l(x[:, 0])
        return np.stack([propagate.spread_hints(*each) for each in zip(ab, L, hint, strict=True)])

    def _faces_meanwhile(self, x: np.ndarray):
        """A Future of skin.faces_in for the photos of x, looked for on a pool thread while
        the network runs: both OpenCV's detector and ONNX Runtime release the GIL, and
        looking first, then running the network took a third of a 512 px photo's time.
        None when the decoding has no use for faces."""
        if self.head != "distribution":
            return None
        return parallel.submit(skin.faces_in, color.denormalize_l(x[:, 0]))

    def _decode(self, out: np.ndarray, x: np.ndarray, vividness=None, faces=None) -> np.ndarray:
        """The network's output as working-size ab (B,2,h,w) in [-1,1]."""
        if self.head == "distribution":
            if vividness is None:
                vividness = options.DEFAULT_VIVIDNESS
            vividness = options.VIVIDNESS.check(vividness)
            L = color.denormalize_l(x[:, 0])
            centres = self.bins.centers()
            ab = decode.decode(out, L, self.temperature, vividness, centres, faces=faces)
            return resample.bilinear(ab, x.shape[-2:])
        if self.color_space == "rgb":
            lab = fastcolor.rgb_to_lab(color.norm_to_rgb(out))
            out = color.normalize_ab(lab[:, 1:]).astype(np.float32)
        return out

    # --- batches ------------------------------------------------------------------------------

    def predict_many(self, Ls: Sequence[np.ndarray], guides=None, vividness=None, batch_size=8):
        """Working-size ab (2,h,w) of each full-resolution L (H,W) in [0,100]; one network
        call per `batch_size` photos of the same working shape. guides: one Guide (or None)
        per photo: a photo without one gets zero hints and reference (automatic colour)."""
        guides = list(guides) if guides is not None else [None] * len(Ls)
        inputs = [working_l(L, self.working_size) for L in Ls]
        out: list = [None] * len(inputs)
        by_shape: dict[tuple, list[int]] = {}
        for i, x in enumerate(inputs):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        for shape, idx in by_shape.items():
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                items = [(Ls[i].shape, guides[i]) for i in chunk]
                hint, ref = guidance.batch(items, shape, self.bins)
                ab = self._predict(np.stack([inputs[i] for i in chunk]), hint, ref, vividness)
                for i, a in zip(chunk, ab, strict=True):
                    out[i] = a
        return out

    def predict_tiles(self, L, tile: int, stride: int, guide=None, vividness=None):
        """Full-resolution ab (2,H,W) of L (H,W) in [0,100] from overlapping tiles of `tile`
        pixels, `stride` apart, `tile_batch` per network call, blended (core.tiling). Each
        tile gets the guide's reference and the hints inside it, not spread: spreading is
        done over the whole photo by the caller."""
        l_norm = color.normalize_l(L.astype(np.float32, copy=False))
        ref = guide.reference if guide else None
        extra = None
        if guide and guide.hints:
            extra = guidance.hint_map(guide.hints, L.shape, L.shape)

        def run(x: np.ndarray) -> np.ndarray:
            hint = x[:, 1:] if x.shape[1] > 1 else None
            return self._predict(x[:, :1], hint, ref, vividness, spread=False)

        return tiling.tiled_predict(run, l_norm, tile, stride, self.tile_batch, extra)


# --- a network on any H and W ---------------------------------------------------------------


def run_padded(network, x: np.ndarray, multiple: int, channels=None, scale=1, extra=()):
    """network(x, *extra) for any H, W (numpy in, numpy out): x (and each 4-D extra input,
    with zeros) padded bottom/right up to `multiple`; the output checked (4-D, 1/scale of
    the padded size, `channels` if given, finite) and cropped back to x's size / scale."""
    h, w = x.shape[-2:]
    bottom, right = -h % multiple, -w % multiple
    padded = tiling.pad_bottom_right(x, bottom, right)
    more = [tiling.pad_bottom_right(e, bottom, right, "zeros") if e.ndim == 4 else e for e in extra]
    out = np.asarray(network(padded, *more), np.float32)
    expect = (padded.shape[-2] // scale, padded.shape[-1] // scale)
    wrong_channels = channels is not None and out.shape[1] != channels
    if out.ndim != 4 or tuple(out.shape[-2:]) != expect or wrong_channels:
        where = "the input's size" if scale == 1 else f"1/{scale} of the input's size"
        raise ColorganError(
            f"the network returned shape {tuple(out.shape)} for input {tuple(padded.shape)}; "
            f"expected {channels or 'its'} channels at {where}"
        )
    # NaN or Inf (broken weights an .onnx file may carry, or an overflow) would colour the
    # photo black without a word: refuse it (cheap: the output is at the working size)
    if not np.isfinite(out).all():
        raise ColorganError(
            "the network's output holds NaN or Inf: the model is broken (damaged weights, or a "
            "training that diverged); use another model"
        )
    return out[..., : -(-h // scale), : -(-w // scale)]


def _array(x) -> np.ndarray | None:
    """A numpy float32 view of an array or a (CPU or CUDA) torch tensor; None stays None."""
    if x is None:
        return None
    if hasattr(x, "detach"):  # a torch tensor: torch is imported already
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float32)


def _like(out: np.ndarray, given):
    """out as a torch tensor on the CPU when `given` was a tensor, else as it is."""
    if hasattr(given, "detach"):
        import torch

        return torch.from_numpy(np.ascontiguousarray(out))
    return out


def _torch_call(network, device, *inputs: np.ndarray) -> np.ndarray:
    """A torch network (module or callable on tensors) on numpy inputs -> numpy output."""
    import torch

    with torch.inference_mode():
        xs = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs]
        return network(*xs).float().cpu().numpy()
