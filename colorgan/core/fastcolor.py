"""Colour conversion at image size, fast: numpy only (no torch), float32, row blocks on a
small thread pool (numpy releases the GIL, so both cores work).

The formulas are colorgan.core.color's (kornia's D65 sRGB, the reference, checked against
scikit-image); tests/test_fastcolor.py holds this module to it. Ranges:
  * L (CIE lightness)  : float32 (H, W) in [0, 100]
  * ab (network units) : float32 (2, h, w) in [-1, 1]; Lab a, b = ab * AB_SCALE; any h, w
                         (compose upsamples it bilinearly to L's size on the way)
  * photo pixels       : (H, W) gray or (H, W, 3) RGB; uint8, uint16 or float in [0, 1]
  * output             : uint8 sRGB (H, W, 3)

Why it is fast:
  * lightness needs only Y = a weighted sum of linear R, G, B: for 8/16-bit input the
    linearisation (weights included) is a table lookup per channel; a gray photo's L is one
    lookup, it depends on the gray level alone.
  * Lab -> sRGB: a colour outside the sRGB gamut keeps its L and hue and gets the largest
    chroma factor t in [0, 1] that keeps linear R, G, B in [0, 1] all the way out from gray
    (a channel can leave [0, 1] and come back: the first crossing counts). t is solved by a
    few safeguarded Newton steps (each channel is a cubic in t), for the few colours outside
    the gamut only, all of a photo's together, instead of 12 bisection passes over them.
  * sRGB gamma + 8-bit rounding is one lookup in a 16-bit table of the linear value
    (1/65535 in linear light is at most 0.05 of an 8-bit step, at the steepest, black end).
  * no full-size temporaries: blocks of rows, per-thread scratch buffers (colorgan.core.blocks).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from colorgan.core import blocks
from colorgan.core.blocks import scratch
from colorgan.core.resample import bilinear_taps

L_MAX = 100.0
AB_SCALE = 110.0  # network ab in [-1, 1] <-> Lab a, b (the sRGB gamut fits inside +-110)

# kornia's constants (colorgan.core.color is kornia): D65 white, sRGB primaries.
WHITE_X, WHITE_Z = 0.95047, 1.08883
RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_TO_Y = tuple(RGB_TO_XYZ[1])
XYZ_TO_RGB = np.array(
    [
        [3.2404813432005266, -1.5371515162713185, -0.4985363261688878],
        [-0.9692549499965682, 1.8759900014898907, 0.0415559265582928],
        [0.0556466391351772, -0.2040413383665112, 1.0573110696453443],
    ]
)
_RGB_FROM_FXYZ = (XYZ_TO_RGB * [WHITE_X, 1.0, WHITE_Z]).astype(np.float32)  # white folded in
F_KNEE = 0.2068966  # f above which X/Xn = f**3, below it is linear (Lab -> XYZ)
Y_KNEE = 0.008856  # the same knee on the Y side (XYZ -> Lab)
LIN_SLOPE = 7.787
F_OFFSET = 4.0 / 29.0

GAMUT_MARGIN = 1e-5  # linear RGB: solved colours land this far inside, so never clip
NEWTON_STEPS = 10  # measured: all converged (to 1e-5 in t) after 7 on photos, 8 on random Lab
ENCODE_LEVELS = 65536


# --- sRGB <-> linear, lightness ----------------------------------------------------------------


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> linear light (kornia's formula), float64 for tables."""
    x = np.asarray(x, np.float64)
    return np.where(x > 0.04045, ((np.maximum(x, 0.0) + 0.055) / 1.055) ** 2.4, x / 12.92)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.where(x > 0.0031308, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * x)


def y_to_l(y: np.ndarray) -> np.ndarray:
    """Relative luminance Y in [0, 1] -> L in [0, 100], in place (float32 arrays)."""
    low = y <= Y_KNEE
    lin = y[low] * np.float32(LIN_SLOPE * 116.0) if low.any() else None  # L = 903.3 Y there
    np.cbrt(y, out=y)
    y *= np.float32(116.0)
    y -= np.float32(16.0)
    if lin is not None:
        y[low] = lin
    return y


@lru_cache(maxsize=4)
def _luma_tables(levels: int) -> np.ndarray:
    """(3, levels) float32: each channel's contribution to Y, per code value."""
    lin = srgb_to_linear(np.arange(levels) / (levels - 1))
    return (np.asarray(RGB_TO_Y)[:, None] * lin[None]).astype(np.float32)


@lru_cache(maxsize=4)
def gray_l_table(levels: int) -> np.ndarray:
    """L of every gray level (uint8: 256, uint16: 65536), float32."""
    y = srgb_to_linear(np.arange(levels) / (levels - 1)) * sum(RGB_TO_Y)
    return y_to_l(y.astype(np.float32))


def lightness(pixels: np.ndarray) -> np.ndarray:
    """CIE L in [0, 100], float32 (H, W), of gray (H, W) or RGB (H, W, 3) pixels
    (uint8, uint16 or float in [0, 1])."""
    integer = pixels.dtype in (np.uint8, np.uint16)
    levels = 256 if pixels.dtype == np.uint8 else 65536
    if pixels.ndim == 2 and integer:
        return gray_l_table(levels)[pixels]
    out = np.empty(pixels.shape[:2], np.float32)
    tables = _luma_tables(levels) if integer else None
    width = pixels.shape[1]

    def block(rows: slice) -> None:
        px, y = pixels[rows], out[rows]
        if tables is not None:
            part = scratch.get("part", y.shape)
            np.take(tables[0], px[..., 0], out=y)
            for c in (1, 2):
                y += np.take(tables[c], px[..., c], out=part)
        elif px.ndim == 2:
            y[...] = srgb_to_linear(px) * sum(RGB_TO_Y)
        else:
            y[...] = srgb_to_linear(px) @ np.asarray(RGB_TO_Y)
        y_to_l(y.reshape(-1))

    blocks.parallel(block, blocks.row_blocks(pixels.shape[0], width))
    return out


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], channels first (..., 3, H, W) -> Lab (..., 3, H, W) float32. For small
    arrays (the network's RGB-mode output at working size): plain float64 numpy."""
    lin = srgb_to_linear(np.clip(rgb, 0.0, 1.0))
    xyz = np.einsum("ij,...jhw->...ihw", RGB_TO_XYZ, lin)
    xyz /= np.array([WHITE_X, 1.0, WHITE_Z])[:, None, None]
    f = np.where(xyz > Y_KNEE, np.cbrt(np.maximum(xyz, Y_KNEE)), LIN_SLOPE * xyz + F_OFFSET)
    fx, fy, fz = f[..., 0, :, :], f[..., 1, :, :], f[..., 2, :, :]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], -3).astype(
        np.float32
    )


# --- Lab -> sRGB, inside the gamut ------------------------------------------------------------


@lru_cache(maxsize=1)
def _encode_table() -> np.ndarray:
    """uint8 sRGB of linear value i / (ENCODE_LEVELS - 1)."""
    enc = linear_to_srgb(np.arange(ENCODE_LEVELS) / (ENCODE_LEVELS - 1))
    return np.round(np.clip(enc, 0.0, 1.0) * 255.0).astype(np.uint8)


def _f_to_xyz(f: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """Lab's f -> X/Xn (and Y, Z) in place: f**3 above the knee, linear below (kornia)."""
    low = f <= F_KNEE
    lin = (f[low] - np.float32(F_OFFSET)) * np.float32(1 / LIN_SLOPE) if low.any() else None
    np.multiply(f, f, out=tmp)
    f *= tmp
    if lin is not None:
        f[low] = lin
    return f


def _f_to_xyz_slope(f: np.ndarray) -> np.ndarray:
    return np.where(f > F_KNEE, np.float32(3) * f * f, np.float32(1 / LIN_SLOPE))


def _linear_rgb(fy: np.ndarray, fx: np.ndarray, fz: np.ndarray, out=None) -> np.ndarray:
    """Lab f values (n,) -> linear RGB (3, n) float32, unclipped. Overwrites fx and fz."""
    n = fy.shape[0]
    tmp = scratch.get("tmp", (n,))
    y = scratch.get("y", (n,))
    np.copyto(y, fy)
    xyz = (_f_to_xyz(fx, tmp), _f_to_xyz(y, tmp), _f_to_xyz(fz, tmp))
    out = np.empty((3, n), np.float32) if out is None else out
    for c in range(3):
        m = _RGB_FROM_FXYZ[c]
        np.multiply(xyz[0], m[0], out=out[c])
        out[c] += np.multiply(xyz[1], m[1], out=tmp)
        out[c] += np.multiply(xyz[2], m[2], out=tmp)
    return out


def _sides(fy, u, v, t):
    """The six gamut constraints at chroma factor t, as (6, n) values that are > 0 outside
    (R-1, G-1, B-1, -R, -G, -B, linear RGB) and their (6, n) derivatives in t.
    fx = fy + t u, fz = max(fy - t v, 0) (kornia clamps fz)."""
    fx = fy + t * u
    fz = fy - t * v
    dz = np.where(fz > 0, -v, np.float32(0))
    np.maximum(fz, 0, out=fz)
    dx = _f_to_xyz_slope(fx) * u
    dz *= _f_to_xyz_slope(fz)
    rgb = _linear_rgb(fy, fx, fz)
    m = _RGB_FROM_FXYZ
    drgb = m[:, :1] * dx[None] + m[:, 2:] * dz[None]  # Y does not change with t
    return np.concatenate([rgb - 1.0, -rgb]), np.concatenate([drgb, -drgb])


def gamut_chroma_scale(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per colour (n,), the largest t in [0, 1] such that L, s*a, s*b is inside the sRGB
    gamut (GAMUT_MARGIN inside) for every s <= t: the first boundary crossing on the way out
    from gray. 0 (gray) for L at 0 or 100."""
    fy = (L + np.float32(16)) * np.float32(1 / 116)
    return _chroma_scale(fy, a * np.float32(1 / 500), b * np.float32(1 / 200))


def _chroma_scale(fy, u, v, worst_at_1=None) -> np.ndarray:
    """Newton towards 2 margins inside the boundary, bracketed by [lo, hi] (lo inside, hi
    outside; t = 1 is outside, which is why we are here). From inside, the step goes to the
    nearest tangent crossing of all six constraints (aiming at the first crossing, not at the
    worst channel's); from outside, it follows the worst constraint back. A step that leaves
    the bracket is replaced by false position between lo and hi, else bisection. Converged
    colours leave the working set, so later steps cost only what is left."""
    n = fy.shape[0]
    lo, hi = np.zeros(n, np.float32), np.ones(n, np.float32)
    if worst_at_1 is None:
        worst_at_1 = _sides(fy, u, v, hi)[0].max(axis=0)
    worst_lo, worst_hi = np.zeros(n, np.float32), worst_at_1.astype(np.float32)
    act, t = np.arange(n), np.zeros(n, np.float32)  # the working set and its t
    target = np.float32(2 * GAMUT_MARGIN)
    for _ in range(NEWTON_STEPS):
        sides, slopes = _sides(fy, u, v, t)
        worst = sides.max(axis=0)
        inside = worst <= -GAMUT_MARGIN
        lo[act] = a_lo = np.where(inside, t, lo[act])
        hi[act] = a_hi = np.where(inside, hi[act], t)
        worst_lo[act] = w_lo = np.where(inside, worst, worst_lo[act])
        worst_hi[act] = w_hi = np.where(inside, worst_hi[act], worst)
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = -(sides + target) / slopes  # each constraint's tangent crossing
            first = np.where(slopes > 0, reach, np.inf).min(axis=0)
            back = np.take_along_axis(reach, sides.argmax(axis=0)[None], 0)[0]
            step = np.where(inside, first, back)
            going = ~((a_hi - a_lo < 1e-6) | (inside & (step < 1e-6)))  # not converged
            t = (t + step)[going]
            a_lo, a_hi, w_lo, w_hi = a_lo[going], a_hi[going], w_lo[going], w_hi[going]
            secant = a_lo - (a_hi - a_lo) * (w_lo + target) / (w_hi - w_lo)
        act, fy, u, v = act[going], fy[going], u[going], v[going]
        if act.size == 0:
            break
        wild = ~((t > a_lo) & (t < a_hi))  # nan, inf or out of the bracket
        t[wild] = secant[wild]
        wild &= ~((t > a_lo) & (t < a_hi))
        t[wild] = ((a_lo + a_hi) * np.float32(0.5))[wild]
    return lo


def lab_to_linear_in_gamut(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lab colours (n,) float32 -> linear RGB (n, 3) in [0, 1]; out-of-gamut colours keep L
    and hue and lose just enough chroma (see gamut_chroma_scale)."""
    fy = (L + np.float32(16)) * np.float32(1 / 116)
    u, v = a * np.float32(1 / 500), b * np.float32(1 / 200)
    rgb, bad = _linear_and_outside(fy, u, v, np.empty((fy.shape[0], 3), np.float32))
    if bad.any():
        rgb[bad] = _solve_outside(fy[bad], u[bad], v[bad], rgb[bad])
    return np.clip(rgb, 0.0, 1.0, out=rgb)  # only float error is left to clip


def _linear_and_outside(fy, u, v, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear RGB into out (n, 3) at full chroma, and which colours are outside the gamut.
    Interleaved, because the 8-bit result is: writing channels strided here is cheaper than
    transposing bytes later (measured)."""
    fx = np.add(fy, u, out=scratch.get("fx", fy.shape))
    fz = np.subtract(fy, v, out=scratch.get("fz", fy.shape))
    np.maximum(fz, 0, out=fz)
    r, g, b = _linear_rgb(fy, fx, fz, out.T)
    low = np.minimum(np.minimum(r, g, out=fx), b, out=fx) < 0
    high = np.maximum(np.maximum(r, g, out=fz), b, out=fz) > 1
    return out, np.logical_or(low, high, out=low)


def _solve_outside(fy, u, v, rgb_at_1) -> np.ndarray:
    """Linear RGB (n, 3) in [0, 1] of colours outside the gamut at full chroma (rgb_at_1)."""
    worst = np.maximum(rgb_at_1 - 1, -rgb_at_1).max(axis=1)
    t = _chroma_scale(fy, u, v, worst)
    rgb = _linear_rgb(fy, fy + t * u, np.maximum(fy - t * v, 0), np.empty_like(rgb_at_1).T)
    return np.clip(rgb.T, 0.0, 1.0)


def _encode(rgb: np.ndarray, out: np.ndarray) -> None:
    """Linear RGB (n, 3) in [0, 1] (overwritten) -> uint8 sRGB into out (n, 3)."""
    rgb *= np.float32(ENCODE_LEVELS - 1)
    rgb += np.float32(0.5)
    codes = scratch.get("codes", rgb.shape, np.uint16)
    np.copyto(codes, rgb, casting="unsafe")
    np.take(_encode_table(), codes, out=out)


def _upsampled_rows(ab, rows, taps_y, taps_x, scale, out) -> None:
    """out (rows*W,) = scale * the bilinear upsampling of one ab plane (h, w), for `rows`."""
    y0, y1, wy = (tap[rows] for tap in taps_y)
    x0, x1, wx = taps_x
    col = ab[y0] * (1 - wy)[:, None] + ab[y1] * wy[:, None]  # (rows, w): small
    col *= scale
    step = np.diff(col, axis=1, append=col[:, -1:])  # col[x + 1] - col[x]
    h, width = col.shape[0], x0.shape[0]
    out2 = out.reshape(h, width)
    np.take(col, x0, axis=1, out=out2)
    tmp = np.take(step, x0, axis=1, out=scratch.get("up", (h, width)))
    tmp *= wx * (x1 > x0)  # at the clamped right edge, no step
    out2 += tmp


def compose(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0) -> np.ndarray:
    """Full-res L (H,W) in [0,100] + network ab (2,h,w) in [-1,1] -> uint8 sRGB (H,W,3).
    ab of another size than L is upsampled bilinearly on the way (align_corners=False), a
    block at a time, never as a full-size array. Out-of-gamut colours keep L and hue and
    lose just enough chroma.

    Two passes: the row blocks convert every colour at full chroma and note which are outside
    the gamut; those (a few %) are then solved together in big chunks, where numpy's per-call
    overhead is small."""
    height, width = L.shape
    out = np.empty((height, width, 3), np.uint8)
    flat = out.reshape(-1, 3)
    k_a = np.float32(AB_SCALE * saturation / 500)
    k_b = np.float32(AB_SCALE * saturation / 200)
    resize = tuple(ab.shape[-2:]) != (height, width)
    if resize:
        taps_y, taps_x = bilinear_taps(height, ab.shape[1]), bilinear_taps(width, ab.shape[2])

    def block(rows: slice):
        n = (rows.stop - rows.start) * width
        fy, u, v = (scratch.get(k, (n,)) for k in ("fy", "u", "v"))
        np.add(L[rows].reshape(n), np.float32(16), out=fy)
        fy *= np.float32(1 / 116)
        if resize:
            _upsampled_rows(ab[0], rows, taps_y, taps_x, k_a, u)
            _upsampled_rows(ab[1], rows, taps_y, taps_x, k_b, v)
        else:
            np.multiply(ab[0, rows].reshape(n), k_a, out=u)
            np.multiply(ab[1, rows].reshape(n), k_b, out=v)
        rgb, bad = _linear_and_outside(fy, u, v, scratch.get("rgb", (n, 3)))
        idx = np.flatnonzero(bad)
        outside = (idx + rows.start * width, fy[idx], u[idx], v[idx], rgb[idx])
        _encode(np.clip(rgb, 0.0, 1.0, out=rgb), flat[rows.start * width : rows.stop * width])
        return outside

    parts = blocks.parallel(block, blocks.row_blocks(height, width))
    idx, fy, u, v, rgb = (np.concatenate([p[k] for p in parts]) for k in range(5))

    def fix(chunk: slice) -> None:
        solved = _solve_outside(fy[chunk], u[chunk], v[chunk], rgb[chunk])
        _encode(solved, codes := np.empty(solved.shape, np.uint8))
        flat[idx[chunk]] = codes

    blocks.parallel(fix, blocks.chunks(idx.size))
    return out
