"""Hints, a reference and vividness through the command line (colorgan.interfaces.cli.main):
colorize, video and evaluate, with a stand-in guided model (tests/guided_fakes.py)."""

import json

import av
import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import color
from colorgan.evaluation import evaluate as ev
from colorgan.interfaces.cli import main
from colorgan.pipeline.colorizer import Colorizer
from tests.conftest import make_photo
from tests.guided_fakes import guided_colorizer


@pytest.fixture
def guided(monkeypatch):
    """Every Colorizer.load gives the stand-in guided model."""
    made = []

    def load(cls, *args, **kwargs):
        made.append(guided_colorizer(kind=kind[0]))
        return made[-1]

    kind = ["ab"]
    monkeypatch.setattr(Colorizer, "load", classmethod(load))
    return kind


def gray(path, size=(64, 48), level=128):
    """A gray image, its left quarter dark (a region of its own for hints to stay out of)."""
    im = Image.new("L", size, level)
    im.paste(40, (0, 0, size[0] // 4, size[1]))
    im.save(path)
    return path


def a_at(path, x, y):
    rgb = torch.tensor(np.asarray(Image.open(path).convert("RGB"))[y, x] / 255.0)
    return float(color.rgb_to_lab(rgb.float().view(1, 3, 1, 1))[0, 1])


def test_hints_on_the_command_line_and_in_a_file(guided, tmp_path):
    src = gray(tmp_path / "p.png")
    (tmp_path / "h.json").write_text(json.dumps([{"x": 30, "y": 10, "color": "#2020c8"}]))
    out = tmp_path / "out"
    argv = ["colorize", str(src), "-o", str(out), "--hint", "40,20,#c82828,5"]
    assert main([*argv, "--hints", str(tmp_path / "h.json")]) == 0
    assert a_at(out / "p_color.png", 40, 20) > 20  # red
    assert abs(a_at(out / "p_color.png", 5, 40)) < 1  # another region, no hint: gray


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--hint", "40,20,#zz0000"], "'#zz0000'"),
        (["--hint", "40,20"], "'40,20'"),
        (["--hint", "64,20,#ff0000"], "(64, 20)"),
        (["--reference", "REF"], "notes.txt"),
        (["--hints", "HINTS"], "h.json"),
    ],
)
def test_a_bad_hint_or_reference_is_one_line_exit_2_nothing_written(
    guided, tmp_path, capsys, extra, named
):
    src = gray(tmp_path / "p.png")
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "h.json").write_text('[{"x": 1, "y": 2, "colour": "#ff0000"}]')
    extra = [
        {"REF": str(tmp_path / "notes.txt"), "HINTS": str(tmp_path / "h.json")}.get(e, e)
        for e in extra
    ]
    assert main(["colorize", str(src), "-o", str(tmp_path / "out"), *extra]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and named in err[0]
    assert not list((tmp_path / "out").rglob("*.png")) if (tmp_path / "out").exists() else True


def test_a_hint_outside_one_of_several_images_is_that_images_error(guided, tmp_path, capsys):
    small = gray(tmp_path / "small.png", (32, 24))
    big = gray(tmp_path / "big.png", (64, 48))
    out = tmp_path / "out"
    assert main(["colorize", str(small), str(big), "-o", str(out), "--hint", "40,20,#c82828"]) == 1
    err = capsys.readouterr().err
    assert "small.png: hint at (40, 20) is outside the image (32x24 pixels)" in err
    assert [p.name for p in out.iterdir()] == ["big_color.png"]


def test_vividness_on_an_ab_model_says_so_once(tmp_path, caplog):
    net = Colorizer(lambda x: torch.zeros(x.shape[0], 2, *x.shape[-2:]), working_size=16)
    net = net.using(vividness=0.5)  # said here, once, not for every photo
    for _ in range(2):
        net.colorize(make_photo(0))
    assert sum("vividness applies" in r.message for r in caplog.records) == 1


def write_clip(path, frames=6, size=(64, 48)):
    """Gray texture panning 1 px a frame: one shot the stabiliser can follow."""
    texture = np.asarray(make_photo(0, (size[0] + frames, size[1])).convert("L"))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i in range(frames):
            rgb = np.repeat(texture[:, i : i + size[0], None], 3, axis=-1)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def frames_a(path, x, y):
    with av.open(str(path)) as c:
        rgbs = [f.to_ndarray(format="rgb24")[y, x] / 255.0 for f in c.decode(video=0)]
    rgb = torch.tensor(np.array(rgbs), dtype=torch.float32).T[None, :, :, None]
    return color.rgb_to_lab(rgb)[0, 1, :, 0]


def test_video_reference_for_the_clip_and_hints_on_the_first_frame(guided, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=24)
    Image.new("RGB", (20, 20), (40, 40, 220)).save(tmp_path / "blue.png")
    (tmp_path / "h.json").write_text(json.dumps([{"x": 40, "y": 24, "color": "#c82828"}]))
    out = tmp_path / "out.mp4"
    argv = ["video", str(clip), "-o", str(out), "--reference", str(tmp_path / "blue.png")]
    assert main([*argv, "--hints", str(tmp_path / "h.json"), "--size", "32"]) == 0
    # the texture pans 1 px a frame to the left: the hinted point is at x = 40 - i. Its red
    # holds for the whole shot (given on the first frame only and carried by the stabiliser,
    # it had faded to a* 3 by frame 10)
    a_hint = [float(frames_a(out, 40 - i, 24)[i]) for i in range(0, 24, 4)]
    assert all(a > 20 for a in a_hint), a_hint
    # the reference alone: its blue (a < 0) over the whole clip
    clip = write_clip(tmp_path / "short.mp4")
    argv = ["video", str(clip), "-o", str(tmp_path / "ref.mp4"), "--size", "32"]
    assert main([*argv, "--reference", str(tmp_path / "blue.png")]) == 0
    assert all(a < -2 for a in frames_a(tmp_path / "ref.mp4", 4, 4))


def test_video_hint_outside_the_frame(guided, tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4")
    (tmp_path / "h.json").write_text(json.dumps([{"x": 99, "y": 2, "color": "#c82828"}]))
    argv = [
        "video",
        str(clip),
        "-o",
        str(tmp_path / "out.mp4"),
        "--hints",
        str(tmp_path / "h.json"),
    ]
    assert main(argv) == 2
    assert "(99, 2) is outside the image (64x48 pixels)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "h.json"]


def test_evaluate_with_simulated_hints_and_self_reference(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        make_photo(i, (64, 64)).save(folder / f"{i}.png")

    def load_candidate(spec, device, backend="torch"):
        if spec in ev.BASELINES:
            return ev.Candidate(spec, spec)
        return ev.Candidate(spec, "generator", guided_colorizer().model, {"source": "fake"})

    monkeypatch.setattr(ev, "load_candidate", load_candidate)
    psnr = {}
    for name, extra in [
        ("auto", []),
        ("hints", ["--hints", "20"]),
        ("ref", ["--reference", "self"]),
    ]:
        out = tmp_path / name
        argv = ["evaluate", "--model", "fake", "--data", str(folder), "--size", "32", "--out"]
        skip = ["--skip", "lpips", "--skip", "fid", "--skip", "fd_mobilenetv2"]
        assert main([*argv, str(out), *skip, "--skip", "throughput", "--grid", "0", *extra]) == 0
        report = json.loads((out / "report.json").read_text())
        psnr[name] = report["models"][0]["metrics"]["psnr"]
    assert psnr["hints"] > psnr["auto"] + 0.1  # the truth's colour at the hints
    assert psnr["ref"] != psnr["auto"]
    assert "each photo's own ground truth as the reference" in report["protocol"]
