"""Where a video frame's CPU time goes: each stage of `colorgan video`, one markdown table.

    python benchmarks/video_stages.py                     # 768x576, 40 frames, the default model
    python benchmarks/video_stages.py --size 768x576 --frames 40 --precision fp32

The clip is benchmarks/video_speed.py's (bikes.mp4's first frames as gray, scaled to --size).
Each stage runs on this thread in turn, frame after frame, and its CPU time (process_time:
the stages that use a pool of threads, the composition and the lightness, are counted whole)
is the median over the frames after the first 3; OpenCV and ONNX Runtime on one thread, as
in the video pipeline (colorgan.interfaces.video's NETWORK_CALL_THREADS, serial_opencv). The
H.264 decoding and encoding (with x264's own threads) are measured together, as
video_speed.py's floor, their process time over the whole clip divided by its frames. The
last columns: the share of a frame's CPU time each stage has with the network on every
frame (motion with DIS's medium preset), and with keyframes every --keyframe-every frames
(the network's stages and the blend on 1 frame in N, the warp on the others, every frame's
motion with the fast preset: colorgan.pipeline.sequence).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import av
import cv2
from video_speed import decode_encode, make_clip  # scripts run from this folder

from colorgan.core import color, resample
from colorgan.interfaces.video import NETWORK_CALL_THREADS, _lightness
from colorgan.pipeline import decode, skin
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.geometry import working_l, working_shape
from colorgan.pipeline.sequence import KEYFRAME_EVERY, KEYFRAMES_FLOW
from colorgan.pipeline.temporal import (
    Flow,
    StabilizerSettings,
    TemporalStabilizer,
    find_motion,
    to_u8,
)

NETWORK = ("network input", "network", "face detector", "decoding")  # keyframes only


def stages(clip: Path, colorizer: Colorizer, frames: int) -> dict[str, float]:
    """Median CPU seconds of each stage over the clip's frames (the first 3 left out)."""
    times: dict[str, list[float]] = {}

    def timed(name, f, *args, **kwargs):
        start = time.process_time()
        out = f(*args, **kwargs)
        times.setdefault(name, []).append(time.process_time() - start)
        return out

    model, settings = colorizer.model, StabilizerSettings()
    stabilizer, prev = TemporalStabilizer(settings), None
    carrier = TemporalStabilizer(settings)  # every frame carried, from each shot's first
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == frames:
                break
            L = timed("lightness", _lightness, frame)
            flow_shape = working_shape(*L.shape, settings.flow_size)
            cur = to_u8(timed("L at the flow size", resample.resize, L, flow_shape))
            x = timed("network input", working_l, L, colorizer.working_size)[None]
            out = timed("network", model.forward, x)
            l_work = color.denormalize_l(x[:, 0])
            cascades = skin.detector()
            # what decode does with faces=True
            timed("face detector", skin.faces, l_work[0], cascades)
            centres = model.bins.centers()
            args = (out, l_work, model.temperature, None, centres)
            ab = timed("decoding", decode.decode, *args, faces=False)
            ab = resample.bilinear(ab, x.shape[-2:])[0]
            motion = timed("motion, medium preset", find_motion, prev, cur, settings)
            fast = Flow("dis", KEYFRAMES_FLOW)
            timed("motion, fast preset", find_motion, prev, cur, settings, fast)
            if motion.cut:
                carrier.follow(cur, motion, ab)
            else:
                timed("carry (warp)", carrier.follow, cur, motion, None)
            ab, _ = timed("stabiliser blend", stabilizer.follow, cur, motion, ab)
            timed("compose", colorizer.compose, L, ab)
            prev = cur
    return {name: statistics.median(values[3:]) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--size", default="768x576", help="W x H of the clip")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--precision", default="auto", help="auto, int8 or fp32")
    parser.add_argument("--keyframe-every", type=int, default=KEYFRAME_EVERY)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    colorizer = Colorizer.load(args.model, precision=args.precision, threads=NETWORK_CALL_THREADS)
    cv2.setNumThreads(1)
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        label = make_clip(clip, size, args.frames, tmp)
        start = time.process_time()
        count = decode_encode(clip, tmp / "floor.mp4")
        floor = (time.process_time() - start) / count
        measured = stages(clip, colorizer, args.frames)
    load.append(os.getloadavg()[0])
    measured["decode + encode (H.264)"] = floor
    n = args.keyframe_every
    every = {k: v for k, v in measured.items() if k not in ("motion, fast preset", "carry (warp)")}
    keyed = {
        k: v / n if k in NETWORK or k == "stabiliser blend" else v
        for k, v in measured.items()
        if k != "motion, medium preset"
    }
    keyed["carry (warp)"] = measured["carry (warp)"] * (n - 1) / n
    total_every, total_keyed = sum(every.values()), sum(keyed.values())
    print(
        f"clip: {label}, first {args.frames} frames, {size[0]}x{size[1]}; model {args.model} "
        f"({colorizer.precision}, working size {colorizer.working_size}); load average "
        f"{min(load):.1f}-{max(load):.1f}; CPU ms per frame, medians\n\n"
        f"| stage | CPU ms | share, network on every frame | share, keyframes every {n} |\n"
        "|---|---|---|---|"
    )
    for name, seconds in measured.items():
        share = f"{every[name] / total_every:.0%}" if name in every else "-"
        keyed_share = f"{keyed[name] / total_keyed:.0%}" if name in keyed else "-"
        print(f"| {name} | {1000 * seconds:.1f} | {share} | {keyed_share} |")
    print(f"| total per frame | | {1000 * total_every:.1f} ms | {1000 * total_keyed:.1f} ms |")


if __name__ == "__main__":
    main()
