"""Colorizer: full resolution with the input's lightness kept, tiles, models, the default model."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import color, config, resample, tiling
from colorgan.core.errors import ColorganError
from colorgan.io import checksum, modelfile
from colorgan.models import build_generator, generator_from_config
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.geometry import working_l, working_shape

from .conftest import save_tiny_model

# 8-bit rounding of an sRGB triple moves its L by at most ~0.25 (measured over 10^6 random
# colours: 0.244); 0.5 leaves room for float error, while a clipped out-of-gamut colour is
# off by many L units (checked below), so this tolerance separates the two.
L_TOLERANCE = 0.5


def photo(h, w, seed=0):
    """Smooth colourful waves plus noise: texture for the network, uint8 RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    waves = [
        0.5 + 0.45 * np.sin(rng.uniform(1, 6) * 6.28 * (x + rng.uniform(0, 1) * y) + k)
        for k in range(3)
    ]
    img = np.stack(waves, -1) + rng.normal(0, 0.03, (h, w, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def tiny_file(folder, preset="pix2pix-unet", extra=()):
    return save_tiny_model(folder / f"{preset}.safetensors", preset, extra)


@pytest.fixture
def unet_path(tiny_model):
    return tiny_model


def saturated(x):
    """A stand-in network that asks for very strong colours (far outside sRGB at most L)."""
    return torch.cat([torch.full_like(x, 0.9), -torch.tanh(3 * x)], dim=1)


def lightness(image) -> np.ndarray:
    return Colorizer(saturated).read(image)[1]


def l_error(result, source):
    return np.abs(lightness(result) - lightness(source))


def test_lightness_kept_within_8bit_rounding(unet_path):
    src = photo(45, 70)
    for colorizer in (Colorizer.load(unet_path), Colorizer(saturated, working_size=32)):
        for mode in ("single", "hybrid"):
            out = colorizer.colorize(src, mode=mode, tile=32 if mode == "hybrid" else None)
            assert l_error(out, src).max() <= L_TOLERANCE, mode
    # the check can fail: plain clipping of those colours changes L a lot
    L = torch.from_numpy(lightness(src))[None, None]
    ab = color.denormalize_ab(saturated(color.normalize_l(L)))
    clipped = (color.lab_to_rgb(torch.cat([L, ab], 1))[0].permute(1, 2, 0) * 255).round()
    assert l_error(clipped.byte().numpy(), src).max() > 5


def test_gray_16bit_and_sepia_inputs_keep_their_lightness():
    colorizer = Colorizer(saturated, working_size=32)
    gray16 = (np.random.default_rng(0).random((30, 40)) * 65535).astype(np.uint16)
    out = colorizer.colorize(gray16)
    assert np.abs(lightness(out) - lightness(gray16)).max() < L_TOLERANCE
    sepia = (photo(30, 40).mean(-1, keepdims=True) * np.array([1.0, 0.85, 0.6])).astype(np.uint8)
    assert l_error(colorizer.colorize(sepia), sepia).max() <= L_TOLERANCE


@pytest.mark.parametrize("h, w", [(45, 70), (70, 45), (1, 90), (200, 13)])
def test_full_resolution_and_aspect_ratio(h, w):
    seen = []

    def network(x):
        seen.append(tuple(x.shape[-2:]))
        return torch.zeros(x.shape[0], 2, *x.shape[-2:])

    out = Colorizer(network, working_size=32, size_multiple=16).colorize(photo(h, w))
    assert out.size == (w, h)
    wh, ww = working_shape(h, w, 32)
    scale = 32 / max(h, w)  # long side = working size; the other rounded, at least 1 px
    assert max(wh, ww) == 32
    assert abs(wh - max(1, h * scale)) <= 0.5 and abs(ww - max(1, w * scale)) <= 0.5
    assert seen == [(-(-wh // 16) * 16, -(-ww // 16) * 16)]  # padded to the size multiple


def test_pad_to_multiple_wider_than_image():
    x = np.arange(6.0, dtype=np.float32).reshape(1, 1, 2, 3)
    padded = tiling.pad_bottom_right(x, 14, 13)
    assert padded.shape == (1, 1, 16, 16)
    np.testing.assert_array_equal(padded[..., :2, :3], x)
    assert padded[0, 0, 0, 3] == x[0, 0, 0, 1]  # reflect: mirrored about the last column


def test_inputs_path_pil_array_and_alpha(tmp_path, unet_path):
    colorizer = Colorizer.load(unet_path)
    arr = photo(40, 50)
    Image.fromarray(arr).save(tmp_path / "a.png")
    results = [colorizer.colorize(x) for x in (tmp_path / "a.png", Image.fromarray(arr), arr)]
    assert all(np.array_equal(np.asarray(r), np.asarray(results[0])) for r in results)
    rgba = np.dstack([arr, np.tile(np.arange(50, dtype=np.uint8) * 5, (40, 1))])
    out = colorizer.colorize(rgba)
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out)[..., 3], rgba[..., 3])


def test_saturation():
    colorizer = Colorizer(saturated, working_size=32)
    gray = np.asarray(colorizer.colorize(photo(30, 30), saturation=0)).astype(int)
    assert np.abs(gray - gray[..., :1]).max() <= 1  # R = G = B
    weak = np.asarray(colorizer.colorize(photo(30, 30), saturation=0.2)).astype(int)
    strong = np.asarray(colorizer.colorize(photo(30, 30), saturation=1.0)).astype(int)
    assert np.ptp(strong, axis=-1).mean() > np.ptp(weak, axis=-1).mean()
    with pytest.raises(ColorganError, match="saturation"):
        colorizer.colorize(photo(8, 8), saturation=-1)


def test_batch_equals_one_by_one(unet_path):
    colorizer = Colorizer.load(unet_path)
    images = [photo(40, 60, s) for s in range(3)] + [photo(60, 40, 3)]
    batch = colorizer.colorize_batch(images, batch_size=2)
    for single, batched in zip([colorizer.colorize(i) for i in images], batch, strict=True):
        assert np.abs(np.asarray(single).astype(int) - np.asarray(batched)).max() <= 1


def test_rgb_mode_model(tmp_path):
    path = tiny_file(tmp_path, "rgb-unet")
    colorizer = Colorizer.load(path)
    assert colorizer.model.color_space == "rgb"
    src = photo(40, 30)
    assert l_error(colorizer.colorize(src), src).max() <= L_TOLERANCE
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)  # pure red in [-1, 1]
    rgb_net = Colorizer(lambda x: red.expand(x.shape[0], 3, *x.shape[-2:]), color_space="rgb")
    ab = rgb_net.model.predict(torch.zeros(2, 1, 8, 8))
    expected = color.normalize_ab(color.rgb_to_lab(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)))
    torch.testing.assert_close(ab, expected[:, 1:].expand(2, 2, 8, 8))


def full_ab(colorizer, L, **option_values) -> np.ndarray:
    """The full-resolution ab the Colorizer composes L with, with these options."""
    return resample.bilinear(colorizer.using(**option_values).colour(L), L.shape)


def resnet_colorizer(norm, size):
    torch.manual_seed(0)
    net = build_generator("resnet", width=4, n_blocks=1, norm=norm).eval()
    return Colorizer(net, working_size=size)


def test_tiled_equals_single_pass_for_local_model():
    # A resnet without normalisation is a pure convolution stack with a receptive radius of
    # 3 + 1 + 1 + 3 = 8 px. tile 64 / stride 32 -> overlap 32, margin 8: every pixel that
    # gets weight is >= 8 px inside its tile, so it saw exactly what the single pass saw;
    # what remains is float summation order (~1e-8). 1e-5 (network ab units) is far below one
    # 8-bit step (~0.02) and far below the error with unblended tiles, checked below.
    L = lightness(photo(150, 210))
    colorizer = resnet_colorizer("none", 210)  # working size = image size: one pass, scale 1
    single = full_ab(colorizer, L, mode="single")
    tiled = full_ab(colorizer, L, mode="tiles", tile=64, stride=32)
    assert np.abs(tiled - single).max() < 1e-5
    unblended = full_ab(colorizer, L, mode="tiles", tile=64, stride=64)
    assert np.abs(unblended - single).max() > 1e-3


def seam_ratio(ab):
    """Largest column/row-mean |gradient| over the median one: ~1 for smooth, >>1 at a seam."""
    cols = np.abs(np.diff(ab, axis=2)).mean(axis=(0, 1))
    rows = np.abs(np.diff(ab, axis=1)).mean(axis=(0, 2))
    return max(cols.max() / np.median(cols), rows.max() / np.median(rows))


def test_tiles_blend_without_seams():
    # A network whose colour depends on each tile's mean (as per-tile normalisation does):
    # neighbouring tiles disagree by up to ~0.1 (11 ab units), and only the blending can hide
    # where one ends. Unblended, a border is a gradient spike 17x the typical one; blended
    # with the default-like overlap the steepest change stays within ~2x the typical.
    def tile_dependent(x):
        m = x.mean(dim=(2, 3), keepdim=True)
        return torch.cat(
            [0.2 * x + 0.1 * torch.tanh(4 * m), 0.1 * torch.tanh(1 - 4 * m) - 0.2 * x], 1
        )

    L = lightness(photo(150, 210))
    colorizer = Colorizer(tile_dependent, working_size=64)
    assert seam_ratio(full_ab(colorizer, L, mode="tiles", tile=64, stride=32)) < 2.5
    assert seam_ratio(full_ab(colorizer, L, mode="tiles", tile=64, stride=64)) > 10.0  # hard seams


def test_hybrid_takes_low_frequencies_from_the_global_pass():
    L = lightness(photo(120, 160))
    colorizer = resnet_colorizer("instance", 40)  # per-tile statistics: tiles disagree
    global_ab = resample.bilinear(
        colorizer.model.predict(working_l(L, colorizer.working_size)[None])[0], L.shape
    )
    # compared at half the global pass's grid: at its own grid, up-then-area-down is a slight
    # blur, not the identity, so the match there is close (~0.03) but not exact
    grid = (15, 20)

    def low(ab):
        return torch.nn.functional.interpolate(torch.from_numpy(ab)[None], grid, mode="area")[0]

    hybrid = full_ab(colorizer, L, mode="hybrid", tile=32, stride=24)
    tiles = full_ab(colorizer, L, mode="tiles", tile=32, stride=24)
    err_hybrid = (low(hybrid) - low(global_ab)).abs().mean()
    assert err_hybrid < 0.15 * (low(tiles) - low(global_ab)).abs().mean()
    assert np.abs(hybrid - tiles).max() > 0.05  # and it is not just the tiles


def test_tile_weights_partition_of_unity():
    tile, stride = 64, 48
    starts = tiling.tile_starts(64 + 48 * 3, tile, stride)
    total = np.zeros(64 + 48 * 3)
    for s in starts:
        total[s : s + tile] += tiling.ramp(tile, tile - stride, s > 0, s + tile < len(total))
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def plan(colorizer):
    return colorizer.mode, colorizer.tile, colorizer.stride


def test_options_checked_when_set(unet_path):
    colorizer = Colorizer.load(unet_path)  # size_multiple 16
    assert plan(colorizer) == ("single", None, None)
    assert plan(colorizer.using(tile=32)) == ("hybrid", 32, 24)
    assert plan(colorizer.using(mode="tiles")) == ("tiles", 32, 24)  # working size 32
    with pytest.raises(ColorganError, match="multiple of 16"):
        colorizer.using(mode="tiles", tile=40)
    with pytest.raises(ColorganError, match="stride"):
        colorizer.using(mode="tiles", tile=32, stride=33)
    with pytest.raises(ColorganError, match="mode"):
        colorizer.using(mode="mosaic", tile=32)
    for bad in (float("inf"), 1e308, float("nan"), -1, True):
        with pytest.raises(ColorganError, match="saturation"):
            colorizer.using(saturation=bad)
    with pytest.raises(ColorganError, match="size=100000: must be a whole number from 16"):
        colorizer.using(size=100000)
    with pytest.raises(ColorganError, match="vividness"):
        colorizer.using(vividness=1.001)


def test_network_contract_checked():
    with pytest.raises(ColorganError, match="expected 2 channels"):
        Colorizer(lambda x: x).model.predict(torch.zeros(1, 1, 8, 8))


def bundle(tmp_path, monkeypatch, weights, listed=None):
    """A stand-in bundled model in tmp_path: `weights`, its ONNX export and the SHA-256 list
    (`listed`: file name -> digest, default the true ones)."""
    from colorgan.interfaces.export import export_file

    onnx_file = tmp_path / "default_model.onnx"
    if not onnx_file.exists():
        export_file(weights, onnx_file)
    monkeypatch.setattr(modelfile, "DEFAULT_MODEL", weights)
    monkeypatch.setattr(modelfile, "DEFAULT_ONNX", onnx_file)
    monkeypatch.setattr(modelfile, "DEFAULT_SHA256", tmp_path / "model.sha256")
    if listed is None:
        listed = {f.name: checksum.file_sha256(f) for f in (weights, onnx_file)}
    (tmp_path / "model.sha256").write_text("".join(f"{d}  {n}\n" for n, d in listed.items()))
    return onnx_file


def test_default_model_missing_or_damaged(tmp_path, monkeypatch, unet_path):
    monkeypatch.setattr(modelfile, "DEFAULT_ONNX", tmp_path / "none.onnx")
    with pytest.raises(ColorganError) as info:
        Colorizer.load("default")
    assert str(info.value) == modelfile.NO_DEFAULT_MODEL
    onnx_file = bundle(tmp_path, monkeypatch, unet_path)
    for backend in ("onnx", "torch"):  # the ONNX file colours; torch loads the weights
        assert Colorizer.load("default", backend=backend).working_size == 32
    bundle(tmp_path, monkeypatch, unet_path, {onnx_file.name: "0" * 64})
    with pytest.raises(ColorganError, match="SHA-256"):
        Colorizer.load("default")
    good = bundle(tmp_path, monkeypatch, unet_path)
    bundle(tmp_path, monkeypatch, unet_path, {good.name: checksum.file_sha256(good)})
    assert Colorizer.load("default", backend="onnx").working_size == 32
    with pytest.raises(ColorganError, match=f"lists no digest for {unet_path.name}"):
        Colorizer.load("default", backend="torch")  # the weights are checked too


def test_models_load_only_through_safetensors(tmp_path):
    torch.save({"x": torch.zeros(1)}, tmp_path / "model.pt")  # a pickle: never unpickled
    with pytest.raises(ColorganError, match="not a safetensors file"):
        Colorizer.load(tmp_path / "model.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on CPU-only machines")
def test_cuda_missing_is_a_clear_error(unet_path):
    with pytest.raises(ColorganError, match="CUDA is not available"):
        Colorizer.load(unet_path, device="cuda")


def big_photo(path, h=3000, w=4000):
    """A 12 MP JPEG with detail everywhere, made in the test process (not the measured one)."""
    y = np.linspace(0, 40, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 50, w, dtype=np.float32)[None, :]
    for k, channel in enumerate("RGB"):
        plane = (np.sin(x + k) * np.cos(y * (k + 1) / 2) * 110 + 128).astype(np.uint8)
        Image.fromarray(plane).save(path.with_suffix(f".{channel}.png"))
    bands = [Image.open(path.with_suffix(f".{c}.png")) for c in "RGB"]
    Image.merge("RGB", bands).save(path, quality=90)


MEMORY_SCRIPT = """
import json, resource, sys, time
from colorgan.pipeline.colorizer import Colorizer
colorizer = Colorizer.load(sys.argv[1])
start = time.perf_counter()
out = colorizer.colorize(sys.argv[2], tile=None if sys.argv[3] == "single" else 256)
seconds = time.perf_counter() - start
assert out.size == (4000, 3000)
# VmHWM, not getrusage: Linux carries ru_maxrss over from the parent (pytest) across exec
status = open("/proc/self/status").read().split("VmHWM:")[1]
peak = int(status.split()[0]) / 1024
print(json.dumps({"peak_mb": round(peak), "seconds": round(seconds, 1)}))
"""


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["single", "hybrid"])
def test_12_megapixel_photo_under_2gb(tmp_path, mode):
    # the pretrained-unet preset's architecture (random encoder weights: same size and cost)
    cfg = config.with_overrides(
        config.load("pretrained-unet"), ["model.gen_kwargs={encoder: mobilenet_v2, weights: null}"]
    )
    path = tmp_path / "g.safetensors"
    modelfile.save_generator(path, generator_from_config(cfg.model, 256, False), cfg)
    big_photo(tmp_path / "big.jpg")
    run = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(path), str(tmp_path / "big.jpg"), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(mode, result)
    assert result["peak_mb"] < 2048


def test_working_size_from_the_model_config(tmp_path):
    for sub in "abc":
        (tmp_path / sub).mkdir()
    plain = Colorizer.load(tiny_file(tmp_path / "a"), backend="torch")
    assert plain.working_size == 32  # data.size when model.working_size is 0
    chosen = Colorizer.load(
        tiny_file(tmp_path / "b", extra=["model.working_size=48"]), backend="torch"
    )
    assert chosen.working_size == 48
    assert Colorizer.load(tiny_file(tmp_path / "c"), working_size=64).working_size == 64


@pytest.mark.integration
def test_default_model_hashed_once_per_load(monkeypatch):
    calls = []
    real = checksum.file_sha256
    monkeypatch.setattr(checksum, "file_sha256", lambda path: calls.append(path) or real(path))
    weights = [modelfile.DEFAULT_ONNX, modelfile.DEFAULT_MODEL]
    wanted = {
        ("onnx", "fp32"): [modelfile.DEFAULT_ONNX],  # its weights are not even read
        ("onnx", "int8"): weights,  # the int8 network names the weights it was made from
        ("torch", "fp32"): weights,
    }
    for (backend, precision), files in wanted.items():
        calls.clear()
        Colorizer.load("default", device="cpu", backend=backend, precision=precision)
        assert calls == files


def test_load_backend_auto_like_every_command(unet_path):
    from colorgan.pipeline.export import OnnxGenerator

    assert isinstance(Colorizer.load(unet_path, device="cpu").model.network, OnnxGenerator)
    assert isinstance(Colorizer.load(unet_path, backend="torch").model.network, torch.nn.Module)


def test_using_is_a_copy_sharing_the_network():
    base = Colorizer(saturated, working_size=32)
    other = base.using(size=48, saturation=2)
    assert (other.working_size, base.working_size) == (48, 32)
    assert (other.saturation, base.saturation) == (2.0, 1.0)
    assert other.model.network is base.model.network and base.using() is base
    with pytest.raises(ColorganError, match="size"):
        base.using(size=0)
