"""colorgan.core.fastcolor (and core.gamut) against the reference, colorgan.core.color
(kornia, itself checked against scikit-image in test_color.py)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb as kornia_lab_to_rgb
from skimage.color import deltaE_ciede2000
from skimage.color import rgb2lab as sk_rgb2lab

from colorgan.core import color, fastcolor, gamut, parallel
from tests.conftest import make_photo

# The bar: colour within 0.5 CIEDE2000 of the reference compose, compared before
# 8-bit rounding (after it, one 8-bit step alone is worth up to ~1.7 in dark blues).
MAX_DE = 0.5
L_EXACT = 1e-3  # Lab units: float32 noise between two formulations of the same maths


def _reference_rgb(L: np.ndarray, ab: np.ndarray, saturation=1.0) -> np.ndarray:
    """(H, W) L + (2, H, W) network ab -> float sRGB (H, W, 3): what compose did before."""
    lab = torch.cat([torch.from_numpy(L)[None], torch.from_numpy(ab) * 110.0 * saturation])
    return color.lab_to_rgb_in_gamut(lab[None].float())[0].permute(1, 2, 0).double().numpy()


def _fast_rgb(L: np.ndarray, ab: np.ndarray, saturation=1.0) -> np.ndarray:
    """The same through fastcolor, before 8-bit rounding."""
    a, b = (ab * np.float32(110.0 * saturation)).reshape(2, -1)
    lin = fastcolor.lab_to_linear_in_gamut(L.ravel(), a, b)
    return fastcolor.linear_to_srgb(lin).reshape(*L.shape, 3)


def _random_lab(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    L = rng.uniform(0, 100, (1, n)).astype(np.float32)
    return L, rng.uniform(-1, 1, (2, 1, n)).astype(np.float32)


def _photo_l_and_ab(seed=0, size=(300, 240)):
    """A photo's L with a smooth, strongly coloured ab field like a network's."""
    rgb = torch.from_numpy(np.asarray(make_photo(seed, size)) / 255.0).permute(2, 0, 1)[None]
    L = color.rgb_to_lab(rgb.float())[0, 0].numpy()
    rng = np.random.default_rng(seed)
    ab = F.interpolate(torch.from_numpy(rng.uniform(-0.9, 0.9, (1, 2, 6, 5))).float(), L.shape)
    return L, ab[0].numpy()


def _max_de(x: np.ndarray, y: np.ndarray) -> float:
    return float(deltaE_ciede2000(sk_rgb2lab(x), sk_rgb2lab(y)).max())


@pytest.mark.parametrize("source", ["random", "photo", "photo-saturated"])
def test_compose_matches_the_reference_within_half_a_ciede2000(source):
    L, ab = _random_lab() if source == "random" else _photo_l_and_ab()
    sat = 2.0 if source == "photo-saturated" else 1.0
    ref, fast = _reference_rgb(L, ab, sat), _fast_rgb(L, ab, sat)
    outside = ~_inside(L, *(ab * np.float32(110 * sat)))
    assert outside.mean() > 0.01  # the gamut path is exercised, not just the easy colours
    assert _max_de(fast, ref) < MAX_DE
    # compose's 8-bit result is that colour, rounded (its table lookup may tie-break
    # differently; comparing it with the reference's 8-bit result instead would measure the
    # reference's bisection: within 2^-12 of the boundary, up to 2 steps near a channel's 0)
    out = fastcolor.compose(L, ab, sat).astype(int)
    assert np.abs(out - np.round(fast * 255)).max() <= 1


def test_compose_keeps_lightness_and_stays_in_range():
    L, ab = _random_lab(seed=3)
    lin = fastcolor.lab_to_linear_in_gamut(L[0], *(ab * 110).reshape(2, -1))
    assert lin.min() >= 0 and lin.max() <= 1
    back = color.rgb_to_lab(
        torch.from_numpy(fastcolor.linear_to_srgb(lin).T).float()[None, :, :, None]
    )
    assert np.abs(back[0, 0, :, 0].numpy() - L[0]).max() < 0.01
    # clipping instead would have changed L a lot: the check can fail
    clipped = color.lab_to_rgb(torch.from_numpy(np.concatenate([L[None], ab * 110]))[None])
    assert (color.rgb_to_lab(clipped)[0, 0] - torch.from_numpy(L)).abs().max() > 5


def _inside(L, a, b) -> np.ndarray:
    """Whether each Lab colour is inside the sRGB gamut (kornia, unclipped)."""
    lab = torch.from_numpy(np.stack([L, a, b]).astype(np.float32)).reshape(1, 3, 1, -1)
    rgb = kornia_lab_to_rgb(lab, clip=False)[0].reshape(3, *np.shape(L))
    return ((rgb >= 0) & (rgb <= 1)).all(0).numpy()


def test_gamut_scale_takes_the_first_crossing():
    """Red leaves [0, 1] near t = 0.27 and comes back before green leaves near 0.83: the
    colour must stop at the first crossing, with every chroma below it inside."""
    L, a, b = (np.float32([x]) for x in (97.31564, -24.376713, 99.24269))
    t = gamut.gamut_chroma_scale(L, a, b)[0]
    assert 0.2 < t < 0.35
    s = np.linspace(0, t, 200, dtype=np.float32)
    assert _inside(np.full_like(s, L[0]), a * s, b * s).all()
    assert not _inside(L, a * (t + 0.005), b * (t + 0.005)).any()
    assert _inside(L, a * 0.8245, b * 0.8245).all()  # where Newton from t = 1 would stop


def test_black_white_and_gray_stay_gray():
    L = np.float32([[0.0, 100.0, 50.0, 100.0]])
    ab = np.float32([[[0.5, -0.5, 0.0, 0.01]], [[0.5, 0.3, 0.0, -0.01]]])
    out = fastcolor.compose(L, ab).astype(int)
    assert (out[0, 0] == 0).all() and (out[0, 1] == 255).all()
    assert np.ptp(out[0, 2]) == 0 and np.ptp(out[0, 3]) <= 1


@pytest.mark.parametrize(
    "full, small",
    [((37, 53), (8, 11)), ((5, 300), (5, 20)), ((100, 1), (7, 1)), ((9, 9), (20, 30))],
)
def test_compose_upsamples_ab_like_torch(full, small):
    rng = np.random.default_rng(0)
    ab = rng.uniform(-0.4, 0.4, (2, *small)).astype(np.float32)
    L = rng.uniform(0, 100, full).astype(np.float32)
    up = F.interpolate(torch.from_numpy(ab)[None], size=full, mode="bilinear", align_corners=False)
    diff = fastcolor.compose(L, ab).astype(int) - fastcolor.compose(L, up[0].numpy())
    assert np.abs(diff).max() <= 1


def test_blocks_and_threads_do_not_change_the_result(monkeypatch):
    L, ab = _photo_l_and_ab(1, (200, 150))  # 30 000 pixels
    whole = fastcolor.compose(L, ab, 1.5)
    monkeypatch.setattr(parallel, "BLOCK_PIXELS", 1000)  # 200 row blocks on the pool
    assert len(parallel.row_blocks(*L.shape)) > 20
    np.testing.assert_array_equal(fastcolor.compose(L, ab, 1.5), whole)


def test_lightness_in_blocks_equals_one_block(monkeypatch):
    px = np.asarray(make_photo(2, (150, 200)))
    whole = fastcolor.lightness(px)
    monkeypatch.setattr(parallel, "BLOCK_PIXELS", 1000)
    np.testing.assert_array_equal(fastcolor.lightness(px), whole)


def _kornia_l(arr):
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0 if arr.dtype == np.uint8 else 1.0
    x = torch.from_numpy(arr.astype(np.float32) / np.float32(scale))
    x = x[None, None].expand(1, 3, -1, -1) if x.ndim == 2 else x.permute(2, 0, 1)[None]
    return color.rgb_to_lab(x.contiguous())[0, 0].numpy()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_lightness_matches_the_reference(dtype, channels):
    rng = np.random.default_rng(0)
    shape = (70, 90) if channels == 1 else (70, 90, 3)
    if dtype == np.float32:
        px = rng.random(shape, dtype=np.float32)
    else:
        px = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    px[0, :4] = 0 if channels == 1 else [[0, 0, 0]] * 4  # black: L's linear segment
    ours, ref = fastcolor.lightness(px), _kornia_l(px)
    assert ours.dtype == np.float32 and ours.shape == px.shape[:2]
    assert np.abs(ours - ref).max() < L_EXACT


def test_rgb_to_lab_matches_the_reference():
    rgb = np.random.default_rng(4).random((2, 3, 17, 23)).astype(np.float32)
    rgb[0, :, 0, 0] = 0  # black: the linear segment
    ref = color.rgb_to_lab(torch.from_numpy(rgb)).numpy()
    assert np.abs(fastcolor.rgb_to_lab(rgb) - ref).max() < L_EXACT


def test_8bit_encoding_is_srgb_rounding_up_to_one_level_at_the_steps():
    """The encode table (linear -> 8-bit sRGB) against exact rounding over a dense sweep:
    equal at 0 and 1, never more than one level off, and off only right at 8-bit steps."""
    v = np.linspace(0.0, 1.0, 1_000_001, dtype=np.float32)
    exact = np.round(fastcolor.linear_to_srgb(v.astype(np.float64)) * 255).astype(int)
    got = np.empty((v.size, 1), np.uint8)
    fastcolor._encode(v.copy()[:, None], got)
    diff = np.abs(got[:, 0].astype(int) - exact)
    assert got[0, 0] == 0 and got[-1, 0] == 255
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.002  # half a level of table offset would miss ~1 in 2


def test_row_blocks_are_even_and_cover_the_rows():
    for height, width in [(576, 768), (3000, 4000), (7, 3), (1, 10**7)]:
        rows = parallel.row_blocks(height, width)
        assert rows[0].start == 0 and rows[-1].stop == height
        assert all(a.stop == b.start for a, b in zip(rows, rows[1:], strict=False))
        sizes = [r.stop - r.start for r in rows]
        assert max(sizes) - min(sizes) <= 1
        assert max(sizes) * width <= parallel.BLOCK_PIXELS + width  # ~one block's pixels
    assert len(parallel.row_blocks(576, 768)) == 2


def test_submit_overlaps_the_caller_and_runs_inline_inside_the_pool():
    """parallel.submit runs on the pool (its thread's name), and from a pool thread it runs
    inline: a pool thread waiting on the pool could wait forever."""
    import threading

    def name():
        return threading.current_thread().name

    assert parallel.submit(name).result().startswith(parallel.POOL_PREFIX)
    outer, inner = parallel.submit(lambda: (name(), parallel.submit(name).result())).result()
    assert outer == inner  # the nested call ran on the same thread, inline
    failing = parallel.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result()
