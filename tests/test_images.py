"""colorgan.io.images: every kind of file a user has, its metadata, and every way it can be bad."""

import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from colorgan.core.errors import ColorganError
from colorgan.io import imagemeta, images

ORIENTATION = 0x0112


def rgb_array(h=24, w=36, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif", ".bmp"])
def test_common_formats_read_as_rgb(tmp_path, suffix):
    arr = rgb_array()
    Image.fromarray(arr).save(tmp_path / f"x{suffix}")
    photo = images.read_image(tmp_path / f"x{suffix}")
    assert photo.pixels.shape == (24, 36, 3) and photo.pixels.dtype == np.uint8
    if suffix in (".png", ".tif", ".bmp"):  # lossless: the very pixels
        np.testing.assert_array_equal(photo.pixels, arr)
    assert photo.alpha is None


def test_gif_first_frame(tmp_path):
    frames = [Image.new("L", (20, 10), v) for v in (30, 200, 120)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    photo = images.read_image(tmp_path / "a.gif")
    assert photo.pixels.shape[:2] == (10, 20)
    assert np.all(photo.pixels == photo.pixels.flat[0]) and photo.pixels.flat[0] == 30


def test_16bit_gray_png_and_tiff_keep_precision(tmp_path):
    gray = np.arange(0, 65536, 97, dtype=np.uint16)[:600].reshape(20, 30)
    Image.fromarray(gray).save(tmp_path / "g.png")
    tifffile.imwrite(tmp_path / "g.tif", gray)
    for name in ("g.png", "g.tif"):
        photo = images.read_image(tmp_path / name)
        assert photo.pixels.dtype == np.uint16  # not clipped to 255 as Pillow's convert("L")
        np.testing.assert_array_equal(photo.pixels, gray)


def test_16bit_rgb_tiff_full_precision(tmp_path):
    arr = np.random.default_rng(1).integers(0, 65536, (12, 16, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", arr, photometric="rgb")
    photo = images.read_image(tmp_path / "c.tif")
    np.testing.assert_array_equal(photo.pixels, arr)


def _write_png16_rgb(path, arr):
    """A 16-bit RGB PNG written by hand: Pillow cannot write one."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(png + chunk(b"IEND", b""))


def test_16bit_rgb_png_reads_as_8bit(tmp_path):
    arr = np.random.default_rng(2).integers(0, 65536, (10, 14, 3), dtype=np.uint16)
    _write_png16_rgb(tmp_path / "c.png", arr)
    photo = images.read_image(tmp_path / "c.png")
    assert photo.pixels.shape == (10, 14, 3)
    np.testing.assert_allclose(photo.pixels.astype(float), arr / 257.0, atol=1.0)


@pytest.mark.parametrize(
    "mode, gray, has_alpha",
    [
        ("1", True, False),
        ("L", True, False),
        ("LA", True, True),
        ("P", False, False),
        ("PA", False, True),
        ("RGBA", False, True),
        ("CMYK", False, False),
        ("I", True, False),
        ("F", True, False),
        ("YCbCr", False, False),
    ],
)
def test_modes(mode, gray, has_alpha):
    base = Image.fromarray(rgb_array()).convert("RGBA")
    base.putalpha(Image.fromarray(np.tile(np.arange(36, dtype=np.uint8) * 7, (24, 1))))
    im = base.convert(mode) if mode != "F" else Image.fromarray(np.full((24, 36), 0.25, "f4"))
    photo = images.read_image(im)
    assert photo.pixels.ndim == (2 if gray else 3)
    assert (photo.alpha is not None) == has_alpha
    if has_alpha:
        np.testing.assert_array_equal(photo.alpha, np.asarray(base)[..., 3])


def test_palette_with_transparency_keeps_alpha():
    im = Image.new("P", (8, 8), 1)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.info["transparency"] = 0
    photo = images.read_image(im)
    assert photo.alpha[0, 0] == 0 and photo.alpha[1, 1] == 255


def test_exif_orientation_applied_and_metadata_carried(tmp_path):
    arr = rgb_array(20, 40)
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: must be turned 90 degrees clockwise
    exif[0x010F] = "TestCam"
    Image.fromarray(arr).save(tmp_path / "o.png", exif=exif.tobytes())
    photo = images.read_image(tmp_path / "o.png")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB"))
    assert photo.pixels.shape == (40, 20, 3)
    np.testing.assert_array_equal(photo.pixels, expected)
    np.testing.assert_array_equal(photo.pixels, np.rot90(arr, -1))
    carried = Image.Exif()
    carried.load(photo.exif)
    assert carried[ORIENTATION] == 1 and carried[0x010F] == "TestCam"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_numpy_orientation_matches_pillow(orientation):
    arr = rgb_array(6, 9)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[ORIENTATION] = orientation
    im.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(imagemeta.orient_array(arr, orientation), expected)


def test_to_pil_takes_8bit_rgb_only():
    photo = images.photo_from_array(rgb_array(4, 5))
    assert images.to_pil(rgb_array(4, 5), photo).tobytes() == rgb_array(4, 5).tobytes()
    for wrong in (np.zeros((4, 5, 3), np.float32), np.zeros((4, 5), np.uint8)):
        with pytest.raises(TypeError):
            images.to_pil(wrong, photo)


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_jpeg_is_decoded_into_an_array_with_the_same_pixels(tmp_path, orientation, mode):
    """The fast path of read_image (Pillow decodes a gray or RGB JPEG straight into a numpy
    array): the same pixels and metadata as Pillow's own image, turned upright, and really
    taken (for RGB the array under the pixels is the RGBX one it decoded into; a Pillow
    that stops honouring the given memory fails here, not silently slower)."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"
    # 4 pixels wide: a gray photo's last axis is not mistaken for RGBA's
    Image.fromarray(rgb_array(30, 4)).convert(mode).save(tmp_path / "x.jpg", exif=exif.tobytes())
    photo = images.read_image(tmp_path / "x.jpg")
    expected = ImageOps.exif_transpose(Image.open(tmp_path / "x.jpg"))
    assert expected.mode == mode
    np.testing.assert_array_equal(photo.pixels, np.asarray(expected))
    assert photo.alpha is None
    carried = Image.Exif()
    carried.load(photo.exif)
    assert carried[ORIENTATION] == 1 and carried[0x010F] == "TestCam"
    if orientation == 1 and mode == "RGB":  # turned photos are copied upright
        assert photo.pixels.base is not None and photo.pixels.base.shape == (30, 4, 4)
    with open(tmp_path / "x.jpg", "rb") as f:  # bytes (uploads) take the same path
        np.testing.assert_array_equal(images.read_image(f.read()).pixels, photo.pixels)


def test_rotated_16bit_tiff(tmp_path):
    arr = np.random.default_rng(3).integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "r.tif", arr, photometric="rgb", extratags=[(274, 3, 1, 8, True)])
    photo = images.read_image(tmp_path / "r.tif")
    np.testing.assert_array_equal(photo.pixels, np.rot90(arr, 1))


def test_icc_rgb_profile_kept_gray_dropped():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im = Image.fromarray(rgb_array())
    im.info["icc_profile"] = srgb
    assert images.read_image(im).icc_profile == srgb
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    for profile in (lab, b"\0" * 128):  # not an RGB profile; not a profile at all
        g = Image.new("L", (4, 4))
        g.info["icc_profile"] = profile
        assert images.read_image(g).icc_profile is None


def test_arrays():
    assert images.read_image(np.zeros((5, 7))).pixels.dtype == np.float32
    assert images.read_image(np.zeros((5, 7, 1), np.uint16)).pixels.shape == (5, 7)
    rgba = images.read_image(np.full((5, 7, 4), 0.5))
    assert rgba.alpha.dtype == np.uint8 and rgba.alpha[0, 0] == 128
    with pytest.raises(ColorganError, match="shape"):
        images.read_image(np.zeros((5, 7, 2)))
    with pytest.raises(ColorganError, match="dtype"):
        images.read_image(np.zeros((5, 7), np.int64))


def _truncated_jpeg(path):
    buf = io.BytesIO()
    Image.fromarray(rgb_array(200, 200)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("these are my holiday notes"), "not an image"),
        (_truncated_jpeg, "damaged"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "folder"),
    ],
)
def test_bad_files_one_clear_line(tmp_path, make, reason):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(ColorganError) as info:
        images.read_image(path)
    message = str(info.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_decompression_bomb_refused(tmp_path):
    Image.new("L", (100, 100)).save(tmp_path / "big.png")
    pillow_limit = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ColorganError, match="10,000 pixels, over the limit of 5,000") as info:
        images.read_image(tmp_path / "big.png", max_pixels=5000)
    assert str(tmp_path / "big.png") in str(info.value) and "decompression bomb" in str(info.value)
    assert images.read_image(tmp_path / "big.png", max_pixels=10000).pixels.shape == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == pillow_limit  # nothing process-wide was changed


def test_pixel_limits_of_concurrent_readers_are_their_own(tmp_path):
    """The CLI's readers and the server's workers read at once, each with its own limit."""
    Image.new("L", (100, 100)).save(tmp_path / "big.png")

    def read(limit):
        try:
            return images.read_image(tmp_path / "big.png", max_pixels=limit).pixels.shape
        except images.ImageTooLarge:
            return "refused"

    limits = [5000, 20000] * 50
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(read, limits))
    assert found == ["refused" if limit < 10000 else (100, 100) for limit in limits]


def test_write_never_clobbers_and_keeps_metadata(tmp_path):
    photo = images.Photo(rgb_array())
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    photo.exif = exif.tobytes()
    photo.icc_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im = images.to_pil(photo.pixels, photo)
    for suffix in (".jpg", ".png", ".webp", ".tif"):
        out = images.write_image(tmp_path / f"r{suffix}", im)
        back = Image.open(out)
        assert back.getexif()[0x010F] == "TestCam", suffix
        assert back.info.get("icc_profile") == photo.icc_profile, suffix
    before = (tmp_path / "r.png").read_bytes()
    with pytest.raises(ColorganError, match="exists"):
        images.write_image(tmp_path / "r.png", Image.new("RGB", (3, 3)))
    assert (tmp_path / "r.png").read_bytes() == before
    images.write_image(tmp_path / "r.png", Image.new("RGB", (3, 3)), overwrite=True)
    assert Image.open(tmp_path / "r.png").size == (3, 3)
    assert not list(tmp_path.glob(".*tmp*"))  # no temp files left behind


def test_write_alpha_kept_in_png_dropped_in_jpeg(tmp_path):
    photo = images.Photo(rgb_array(), alpha=np.full((24, 36), 77, np.uint8))
    im = images.to_pil(photo.pixels, photo)
    assert Image.open(images.write_image(tmp_path / "a.png", im)).getpixel((0, 0))[3] == 77
    assert Image.open(images.write_image(tmp_path / "a.jpg", im)).mode == "RGB"


def test_output_suffix():
    from pathlib import Path

    assert images.output_suffix(Path("a.JPG"), "same") == ".jpg"
    assert images.output_suffix(Path("a.gif"), "same") == ".png"
    assert images.output_suffix(Path("a.tif"), "png") == ".png"
    assert images.output_suffix(Path("a.png"), "jpg") == ".jpg"


def test_tiff_carries_descriptive_tags_only(tmp_path):
    Image.fromarray(rgb_array()).save(tmp_path / "t.tif", tiffinfo={271: "ScanCo", 315: "Ann"})
    carried = Image.Exif()
    carried.load(images.read_image(tmp_path / "t.tif").exif)
    assert carried[271] == "ScanCo" and carried[315] == "Ann"
    assert 273 not in carried and 258 not in carried  # strip offsets, bit depth: not metadata


# --- open_rgb: the plain-RGB reader of training, evaluation and the data builder -------------


def test_open_rgb_alpha_over_white_and_depth_by_format(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert images.open_rgb(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    assert images.open_rgb(_png_bytes(half)).getpixel((0, 0)) == (127, 127, 127)
    # a dark 16-bit scan stays dark: scaled by its 16 bits, not by its largest value
    dark = np.full((4, 4), 4096, np.uint16)
    Image.fromarray(dark).save(tmp_path / "dark16.png")
    assert images.open_rgb(tmp_path / "dark16.png").getpixel((0, 0)) == (16, 16, 16)
    # a 32-bit integer TIFF: scaled by the 32 bits its header declares
    tifffile.imwrite(tmp_path / "i32.tif", np.full((4, 4), 2**31, np.int64).astype(np.uint32))
    assert images.open_rgb(tmp_path / "i32.tif").getpixel((0, 0)) == (128, 128, 128)
    assert images.read_image(tmp_path / "i32.tif").pixels[0, 0] == 32768
    floats = Image.fromarray(np.full((4, 4), 0.5, np.float32))
    assert images.to_rgb8(floats).getpixel((0, 0)) == (128, 128, 128)


def _png_bytes(im):
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_open_rgb_decodes_big_jpegs_reduced_and_turns_them_upright(tmp_path):
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(rgb_array(600, 800)).save(tmp_path / "big.jpg", exif=exif, quality=90)
    full = images.open_rgb(tmp_path / "big.jpg")
    assert full.size == (600, 800) and full.mode == "RGB"
    reduced = images.open_rgb(tmp_path / "big.jpg", min_short=64)
    assert min(reduced.size) >= 64 and reduced.size[1] < 800 and reduced.size[1] > reduced.size[0]


def test_open_rgb_errors_are_one_line(tmp_path):
    (tmp_path / "notes.jpg").write_text("not a photo")
    for src in (tmp_path / "notes.jpg", tmp_path / "missing.png", b"garbage"):
        with pytest.raises(ColorganError) as info:
            images.open_rgb(src)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_open_rgb_orientation_matches_pillow(tmp_path, orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(rgb_array(6, 10)).save(tmp_path / "o.png", exif=exif)
    expected = ImageOps.exif_transpose(Image.open(tmp_path / "o.png")).convert("RGB")
    np.testing.assert_array_equal(np.asarray(images.open_rgb(tmp_path / "o.png")), expected)


def test_an_rgb_photo_is_read_band_by_band_to_the_same_pixels(tmp_path):
    """io.images copies RGB pixels in bands of 64 rows: a height that is not a multiple of
    it, and a photo shorter than one band, give exactly Pillow's pixels."""
    rng = np.random.default_rng(3)
    for height in (130, 40):
        pixels = rng.integers(0, 256, (height, 97, 3), dtype=np.uint8)
        path = tmp_path / f"rgb{height}.png"
        Image.fromarray(pixels).save(path)
        photo = images.read_image(path)
        assert photo.pixels.shape == (height, 97, 3)
        np.testing.assert_array_equal(photo.pixels, pixels)
