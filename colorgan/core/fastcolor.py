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
    (a channel can leave [0, 1] and come back: the first crossing counts). t is solved in
    closed form and a few safeguarded Newton steps (colorgan.core.gamut), for the few
    colours outside the gamut only, all of a photo's together, instead of 12 bisection
    passes over them.
  * sRGB gamma + 8-bit rounding is one lookup in a 16-bit table of the linear value
    (1/65535 in linear light is at most 0.05 of an 8-bit step, at the steepest, black end).
  * no full-size temporaries: blocks of rows, per-thread scratch buffers (colorgan.core.parallel).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from colorgan.core import parallel
from colorgan.core.gamut import chroma_scale
from colorgan.core.lab import (
    AB_SCALE,
    F_KNEE,
    F_OFFSET,
    LIN_SLOPE,
    RGB_FROM_FXYZ,
    RGB_TO_XYZ,
    RGB_TO_Y,
    WHITE_X,
    WHITE_Z,
    Y_KNEE,
)
from colorgan.core.parallel import scratch
from colorgan.core.resample import bilinear_taps

ENCODE_LEVELS = 65536
MATMUL_ROWS = 1 << 14  # rows per product in _linear_rgb (its docstring says why)


# --- sRGB <-> linear, lightness ----------------------------------------------------------------


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] -> linear light (kornia's formula), float64 for tables."""
    x = np.asarray(x, np.float64)
    return np.where(x > 0.04045, ((np.maximum(x, 0.0) + 0.055) / 1.055) ** 2.4, x / 12.92)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.where(x > 0.0031308, 1.055 * np.maximum(x, 0.0031308) ** (1 / 2.4) - 0.055, 12.92 * x)


def y_to_l(y: np.ndarray) -> np.ndarray:
    """Relative luminance Y in [0, 1] -> L in [0, 100], in place (float32 arrays). Below the
    knee L = 903.3 Y: computed for all and copied in under a mask where some Y is that dark
    (a minimum tells), as in _f_to_xyz (gathering and scattering by mask took 4x the cube
    root's time)."""
    lin = None
    if y.size and y.min() <= Y_KNEE:
        low = np.less_equal(y, np.float32(Y_KNEE))
        lin = np.multiply(y, np.float32(LIN_SLOPE * 116.0))
    np.cbrt(y, out=y)
    y *= np.float32(116.0)
    y -= np.float32(16.0)
    if lin is not None:
        np.copyto(y, lin, where=low)
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
    out = np.empty(pixels.shape[:2], np.float32)
    if pixels.ndim == 2 and integer:
        table = gray_l_table(levels)

        def gray(rows: slice) -> None:  # one lookup a pixel ("wrap": see _encode)
            np.take(table, pixels[rows], out=out[rows], mode="wrap")

        parallel.parallel(gray, parallel.row_blocks(*pixels.shape))
        return out
    tables = _luma_tables(levels) if integer else None
    width = pixels.shape[1]

    def block(rows: slice) -> None:
        px, y = pixels[rows], out[rows]
        if tables is not None:
            part = scratch.get("part", y.shape)
            # "wrap": the codes are always inside their table (see _encode)
            np.take(tables[0], px[..., 0], out=y, mode="wrap")
            for c in (1, 2):
                y += np.take(tables[c], px[..., c], out=part, mode="wrap")
        elif px.ndim == 2:
            y[...] = srgb_to_linear(px) * sum(RGB_TO_Y)
        else:
            y[...] = srgb_to_linear(px) @ np.asarray(RGB_TO_Y)
        y_to_l(y.reshape(-1))

    parallel.parallel(block, parallel.row_blocks(pixels.shape[0], width))
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
    """uint8 sRGB of the linear values in [i, i + 1) / (ENCODE_LEVELS - 1), taken at the
    middle (_encode truncates to i: one pass less than rounding)."""
    enc = linear_to_srgb((np.arange(ENCODE_LEVELS) + 0.5) / (ENCODE_LEVELS - 1))
    return np.round(np.clip(enc, 0.0, 1.0) * 255.0).astype(np.uint8)


def _f_to_xyz(f: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """Lab's f -> X/Xn (and Y, Z) in place: f**3 above the knee, linear below (kornia).
    Where some f are below the knee (dark or strongly coloured pixels; a minimum tells, for
    less than a mask costs) the line is computed for all and copied in under a mask:
    1.7-2x faster than gathering and scattering the masked values by index (timed on this
    function alone, 2^18 values with 2 % and 20 % below the knee)."""
    low = None
    if f.min() <= F_KNEE:
        low = np.less_equal(f, np.float32(F_KNEE), out=scratch.get("low", f.shape, np.bool_))
        lin = np.subtract(f, np.float32(F_OFFSET), out=scratch.get("lin", f.shape))
        lin *= np.float32(1 / LIN_SLOPE)
    np.multiply(f, f, out=tmp)
    f *= tmp
    if low is not None:
        np.copyto(f, lin, where=low)
    return f


def _linear_rgb(f: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Lab f values, planes fx, fy, fz (3, n) (overwritten) -> linear RGB into out (n, 3),
    unclipped. (n, 3) x (3, 3) products: interleaved output straight from BLAS, where three
    weighted sums written into strided channels took 2-5x as long (measured). In pieces of
    MATMUL_ROWS: OpenBLAS runs products that small on the calling thread; a whole block's
    was split over its own threads, fighting the pool's (compose measured 0.134 s against
    0.083 at 12 MP)."""
    _f_to_xyz(f, scratch.get("tmp", f.shape))
    for start in range(0, f.shape[1], MATMUL_ROWS):
        part = slice(start, start + MATMUL_ROWS)
        np.matmul(f[:, part].T, RGB_FROM_FXYZ.T, out=out[part])
    return out


def _f_planes(fy: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """fx, fy, fz (3, n) of Lab's f: fy + a/500, fy, fy - b/200 (u, v: a/500 and b/200;
    fz not below 0)."""
    f = scratch.get("f", (3, fy.shape[0]))
    np.add(fy, u, out=f[0])
    np.copyto(f[1], fy)
    np.subtract(fy, v, out=f[2])
    np.maximum(f[2], 0, out=f[2])
    return f


def lab_to_linear_in_gamut(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Lab colours (n,) float32 -> linear RGB (n, 3) in [0, 1]; out-of-gamut colours keep L
    and hue and lose just enough chroma (colorgan.core.gamut)."""
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
    _linear_rgb(_f_planes(fy, u, v), out)
    # outside: any channel < 0 or > 1, compared on the interleaved values, then the three
    # flags of a pixel OR-ed as bytes (measured 2x faster than min/max over strided columns)
    flags = np.less(out, 0, out=scratch.get("below", out.shape, np.bool_))
    flags |= np.greater(out, 1, out=scratch.get("above", out.shape, np.bool_))
    byte = flags.view(np.uint8)
    return out, (byte[:, 0] | byte[:, 1] | byte[:, 2]).view(np.bool_)


def _solve_outside(fy, u, v, rgb_at_1) -> np.ndarray:
    """Linear RGB (n, 3) in [0, 1] of colours outside the gamut at full chroma (rgb_at_1)."""
    t = chroma_scale(fy, u, v, rgb_at_1.T)
    rgb = _linear_rgb(_f_planes(fy, t * u, t * v), np.empty_like(rgb_at_1))
    return np.clip(rgb, 0.0, 1.0)


def _encode(rgb: np.ndarray, out: np.ndarray) -> None:
    """Linear RGB (n, 3) in [0, 1] (overwritten) -> uint8 sRGB into out (n, 3). Values
    outside [0, 1] give some byte, without error (compose writes those pixels again)."""
    rgb *= np.float32(ENCODE_LEVELS - 1)
    codes = scratch.get("codes", rgb.shape, np.uint16)
    with np.errstate(invalid="ignore"):  # out-of-range casts: see above
        np.copyto(codes, rgb, casting="unsafe")
    # "wrap": uint16 codes are always inside the 65536-entry table, so nothing wraps; the
    # default "raise" copies through a buffer (the lookup measured 0.44 -> 0.37 ms a block)
    np.take(_encode_table(), codes, out=out, mode="wrap")


def _upsampled_rows(ab, rows, taps_y, columns, scale, out) -> None:
    """out (rows*W,) = scale * the bilinear upsampling of one ab plane (h, w), for `rows`.
    columns: (how many output columns each input column starts, their weights of the next
    input column): output columns sit in runs per input column, so np.repeat, much faster
    than gathering by index (measured 4x), does the horizontal pass."""
    y0, y1, wy = (tap[rows] for tap in taps_y)
    runs, wx = columns
    col = ab[y0] * (1 - wy)[:, None] + ab[y1] * wy[:, None]  # (rows, w): small
    col *= scale
    step = np.diff(col, axis=1, append=col[:, -1:])  # col[x + 1] - col[x]
    out2 = out.reshape(col.shape[0], -1)
    np.multiply(np.repeat(step, runs, axis=1), wx, out=out2)
    out2 += np.repeat(col, runs, axis=1)


def _column_runs(width: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """For _upsampled_rows: output columns per input column, and each output column's
    weight of the next input column (0 at the clamped right edge)."""
    x0, x1, wx = bilinear_taps(width, w)
    return np.bincount(x0, minlength=w), wx * (x1 > x0)


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
        taps_y, columns = bilinear_taps(height, ab.shape[1]), _column_runs(width, ab.shape[2])

    def block(rows: slice):
        n = (rows.stop - rows.start) * width
        fy, u, v = (scratch.get(k, (n,)) for k in ("fy", "u", "v"))
        np.add(L[rows].reshape(n), np.float32(16), out=fy)
        fy *= np.float32(1 / 116)
        if resize:
            _upsampled_rows(ab[0], rows, taps_y, columns, k_a, u)
            _upsampled_rows(ab[1], rows, taps_y, columns, k_b, v)
        else:
            np.multiply(ab[0, rows].reshape(n), k_a, out=u)
            np.multiply(ab[1, rows].reshape(n), k_b, out=v)
        rgb, bad = _linear_and_outside(fy, u, v, scratch.get("rgb", (n, 3)))
        idx = np.flatnonzero(bad)
        outside = (idx + rows.start * width, fy[idx], u[idx], v[idx], rgb[idx])
        # the colours outside the gamut get bytes here too, overwritten by `fix` below
        _encode(rgb, flat[rows.start * width : rows.stop * width])
        return outside

    parts = parallel.parallel(block, parallel.row_blocks(height, width))
    idx, fy, u, v, rgb = (np.concatenate([p[k] for p in parts]) for k in range(5))

    def fix(chunk: slice) -> None:
        solved = _solve_outside(fy[chunk], u[chunk], v[chunk], rgb[chunk])
        _encode(solved, codes := np.empty(solved.shape, np.uint8))
        flat[idx[chunk]] = codes

    parallel.parallel(fix, parallel.chunks(idx.size))
    return out
