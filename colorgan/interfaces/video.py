"""`colorgan video`: colour a film, frame by frame, stabilised over time against flicker.

The output keeps the input's resolution, pixel aspect, frame count and timestamps (frame
rate and duration), its audio tracks (copied bit for bit where the output container takes
the codec, else re-encoded to AAC) and its lightness; video is H.264 (yuv420p) in MP4, or in
the input's container when that is MOV or MKV. The result is written under a temporary
name beside the output and renamed when complete, so an error or Ctrl-C leaves nothing
half-written; an existing file is replaced only with --overwrite, the input never.
Colour is stabilised over time (colorgan.pipeline.temporal); --report measures the flicker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from colorgan.core import fastcolor
from colorgan.core.errors import ColorganError
from colorgan.core.overlap import prefetched
from colorgan.interfaces import args as args_mod
from colorgan.interfaces.videofile import (
    CONTAINERS,
    X264_PRESET,
    X264_PRESETS,
    Writer,
    batches,
    check_written,
    frames,
    missing_frames,
    open_input,
    output_path,
    reason,
)
from colorgan.io import atomic
from colorgan.pipeline.colorizer import Colorizer
from colorgan.pipeline.guidance import check_inside
from colorgan.pipeline.sequence import KEYFRAME_EVERY, SequenceColorizer
from colorgan.pipeline.temporal import StabilizerSettings, serial_opencv

log = logging.getLogger(__name__)

# Batches in the network at once, each on its own thread. ONNX Runtime's parallel sections
# wait for their slowest thread, and on cores that decoding, composing and encoding share,
# one of its threads is often not running: two batches side by side keep the cores busy
# where one waited (measured: 768x576 video, 2 cores).
NETWORK_THREADS = 2
# ...and each call with one ONNX Runtime thread of its own (Colorizer.load's threads), not
# one per core: the calls side by side already use the cores (measured: 768x576, keyframes
# every 3rd, 2 loaded cores: 80-87 CPU-ms a frame against 87-95, and more frames/s).
NETWORK_CALL_THREADS = 1


@dataclass
class VideoOptions:
    # frames per network call: 1 measured fastest on the CPU with the bundled model, with two
    # calls at once (NETWORK_THREADS; its 262-bin logits of more frames outgrow the caches:
    # benchmarks/video_speed.py --batch N)
    batch: int = 1
    stabilize: bool = True
    settings: StabilizerSettings = field(default_factory=StabilizerSettings)
    crf: int = 18
    x264_preset: str = X264_PRESET
    report: bool = False
    overwrite: bool = False
    hints: tuple = ()  # on the first frame (Hint, dict or "X,Y,#RRGGBB[,SIZE]")
    reference: str | Path | None = None  # for the whole clip
    # the network on every Nth frame of a shot, colour carried between (None: the default,
    # colorgan.pipeline.sequence.keyframe_interval; 1: every frame)
    keyframe_every: int | None = None


@dataclass
class VideoResult:
    output: Path
    frames: int
    seconds: float
    shots: int  # scenes found (cuts + 1); 0 without the stabiliser, which finds them
    measure_seconds: float = 0.0  # time spent measuring flicker (--report), on the thread
    # that stabilises and encodes, while the decoding and network threads go on
    report: dict | None = None
    shortfall: str | None = None  # what is missing from the input (see missing_frames)
    keyframes: int = 0  # frames whose colour the network made (the rest: carried)

    @property
    def fps(self) -> float:
        """Frames per second, decode to encode. With --report the measuring is included:
        it overlaps the other threads' work, so leaving its time out would overstate."""
        return self.frames / max(self.seconds, 1e-9)


# --- colouring -----------------------------------------------------------------------------


def _lightness(frame) -> np.ndarray:
    """CIE L (H, W) of a decoded frame, through the same code as photos."""
    range_ = frame.color_range if frame.color_range else None  # unset: swscale's default
    rgb = frame.to_ndarray(format="rgb24", src_color_range=range_)
    return fastcolor.lightness(rgb)


class _AudioHeld:
    """Stands in for the Writer while frames are decoded on another thread: audio packets
    met on the way are kept, in order, for the encoding thread to write (one container must
    not be muxed into from two threads)."""

    def __init__(self, writer: Writer) -> None:
        self.audio = writer.audio  # which input tracks go through
        self.packets: list = []

    def write_audio(self, packet) -> None:
        self.packets.append(packet)

    def take(self) -> list:
        packets, self.packets = self.packets, []
        return packets


def _decoded(container, vstream, writer: Writer, src, batch: int, damaged, repair):
    """Batches of (timestamps, L of each frame, audio packets met since the last batch),
    in order: the decoding thread's work (demux, decode, RGB, lightness, its repair)."""
    held = _AudioHeld(writer)
    rate = vstream.average_rate or vstream.guessed_rate or Fraction(25)
    default_step = max(1, round(1 / (rate * vstream.time_base)))  # one frame, in time_base
    next_pts = 0
    for chunk in batches(frames(container, vstream, held, damaged), batch):
        stamps, Ls = [], []
        for frame in chunk:
            pts = frame.pts if frame.pts is not None else next_pts
            stamps.append((pts, frame.time_base or vstream.time_base))
            next_pts = pts + (frame.duration or default_step)
            Ls.append(repair(_lightness(frame)))
        if any(L.shape != (writer.video.height, writer.video.width) for L in Ls):
            raise ColorganError(f"{src}: the frame size changes mid-video; not supported")
        yield stamps, Ls, held.take()
    yield [], [], held.take()  # audio after the last frame


def _encode_all(container, vstream, writer, colour, src, batch, damaged=None) -> int:
    """Decode, colour and encode every frame. The threads overlap: decoding the next batch,
    the motion and the network (on keyframes) on the ones before it (NETWORK_THREADS),
    stabilising and composing the next oldest, in order, and encoding the oldest, in order;
    this one plans the batches (colour.plan) and hands them on. Batches in flight: enough
    to run the next keyframe's network while the frames carried before it are composed and
    encoded. Composing and encoding are two threads: on one, they kept it busy ~80 % of the
    time at 25 frames/s (768x576, keyframes every 3rd), the other stages waiting on it."""
    total = vstream.frames or None
    bar = tqdm(total=total, unit="frame", desc=src.name, file=sys.stderr, disable=None)

    failed = threading.Event()  # after a failed batch, queued ones do nothing

    def compose(Ls, network) -> list | None:
        try:
            predicted = network.result()  # first: the network's own error goes on from here
            if failed.is_set():
                return None
            abs_ = colour.settle(predicted)  # the stabiliser: frames in order, this thread
            return [colour.render(L, ab) for L, ab in zip(Ls, abs_, strict=True)]
        except BaseException:
            failed.set()
            raise

    def encode(stamps, composed, audio) -> int:
        try:
            rgbs = composed.result()  # first: the composing thread's error goes on from here
            if failed.is_set():
                return 0
            for (pts, time_base), rgb in zip(stamps, rgbs, strict=True):
                writer.write_frame(rgb, pts, time_base)
            for packet in audio:
                writer.write_audio(packet)
        except BaseException:
            failed.set()
            raise
        return len(rgbs)

    def predict(planned):
        if failed.is_set():
            return None
        try:
            return colour.predict(planned)
        except BaseException:
            failed.set()
            raise

    count, pending = 0, deque()
    in_flight = NETWORK_THREADS + -(-colour.keyframe_every // batch)
    encoder = ThreadPoolExecutor(1, thread_name_prefix="colorgan-encode")
    composer = ThreadPoolExecutor(1, thread_name_prefix="colorgan-compose")
    networks = ThreadPoolExecutor(NETWORK_THREADS, thread_name_prefix="colorgan-network")
    try:
        repair = colour.colorizer.repaired  # --restore: each frame's L, before colour
        decoded = _decoded(container, vstream, writer, src, batch, damaged, repair)
        with bar, prefetched(decoded) as chunks, serial_opencv():
            for stamps, Ls, audio in chunks:
                network = networks.submit(predict, colour.plan(Ls))
                composed = composer.submit(compose, Ls, network)
                pending.append(encoder.submit(encode, stamps, composed, audio))
                while pending and (len(pending) > in_flight or pending[0].done()):
                    done = pending.popleft().result()
                    count += done
                    bar.update(done)
            while pending:
                done = pending.popleft().result()
                count += done
                bar.update(done)
    finally:
        networks.shutdown(wait=True, cancel_futures=True)
        composer.shutdown(wait=True, cancel_futures=True)
        encoder.shutdown(wait=True, cancel_futures=True)
    if count == 0:
        raise ColorganError(f"{src}: the video track has no frames that could be decoded")
    return count


def colorize_video(src, dst, colorizer, options: VideoOptions | None = None) -> VideoResult:
    """Colour video file src into dst (a file, or a folder: see output_path)."""
    options = options or VideoOptions()
    src = Path(src)
    dst = output_path(src, Path(dst), options.overwrite)
    guide = colorizer.guide(options.hints, options.reference)  # bad ones: before any work
    container, vstream = open_input(src)
    try:
        ctx = vstream.codec_context
        check_inside(guide.hints, (ctx.height, ctx.width))
        meter = None
        if options.report:  # only --report measures (a second optical flow per frame pair)
            from colorgan.evaluation.flicker import FlickerMeter

            meter = FlickerMeter(l_tolerance=options.settings.l_tolerance)
        colour = SequenceColorizer(
            colorizer,
            options.settings,
            options.stabilize,
            meter,
            guide=guide,
            keyframe_every=options.keyframe_every,
        )
    except ColorganError:
        container.close()
        raise
    start = time.perf_counter()
    try:
        count, shortfall = _write(src, dst, container, vstream, colour, options)
    finally:
        container.close()
    seconds = time.perf_counter() - start
    report = colour.meter.summary() if colour.meter is not None else None
    result = VideoResult(dst, count, seconds, colour.shots, colour.measure_seconds, report)
    result.shortfall = shortfall
    result.keyframes = colour.network_frames
    return result


def _write(src: Path, dst: Path, container, vstream, colour, options: VideoOptions):
    """Decode, colour and encode into dst, checked and atomic: an error or Ctrl-C leaves
    neither the output nor its .partial file. -> (frames, what the input lacked or None)."""
    writer, damaged = None, []
    fmt = CONTAINERS[dst.suffix.lower()]
    try:
        with atomic.writing(dst, overwrite=options.overwrite, kind="partial") as tmp:
            try:
                writer = Writer(tmp, fmt, container, vstream, options.crf, options.x264_preset)
                count = _encode_all(container, vstream, writer, colour, src, options.batch, damaged)
                writer.close()
            except BaseException:  # close the half-written file before it is removed
                if writer is not None:
                    with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                        writer.container.close()
                raise
            end = check_written(tmp, dst, count)
    except atomic.TargetExists:  # appeared while we worked
        raise ColorganError(f"{dst}: exists (--overwrite replaces it)") from None
    except av.FFmpegError as exc:
        if getattr(exc, "errno", None) in atomic.NO_ROOM:  # the output's disk, not the input
            raise atomic.failure(dst, exc) from None
        raise ColorganError(f"{src}: {reason(exc)}") from None
    except OSError as exc:
        raise atomic.failure(dst, exc) from None
    return count, missing_frames(container, vstream, count, end, damaged)


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    arg = parser.add_argument
    arg("input", metavar="IN", help="video file (anything FFmpeg reads)")
    arg(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (.mp4/.mov/.mkv) or folder "
        "(default: IN's folder, named <stem>_color.mp4 or the input's container)",
    )
    arg("--overwrite", action="store_true", help="replace an existing output (never the input)")
    arg(
        "--allow-truncated",
        action="store_true",
        help="exit 0 even when the input ends before its declared length or has damaged "
        "data (the warning is printed either way)",
    )
    args_mod.add_model(arg)
    args_mod.add_size(arg, "each frame")
    args_mod.add_tiles(arg)
    args_mod.add_colour(arg)
    args_mod.add_guidance(arg, points=False, first_frame=True)
    args_mod.add_restore(arg)
    _video_arguments(arg)


def _video_arguments(arg) -> None:
    number = args_mod.number
    arg(
        "--batch",
        type=number(int, 1),
        default=VideoOptions.batch,
        metavar="N",
        help="frames per network call",
    )
    arg(
        "--strength",
        type=number(float, 0, 1),
        default=StabilizerSettings.strength,
        metavar="X",
        help="temporal stabilisation, 0 = per-frame colours, 1 = strong (default %(default)s)",
    )
    arg("--no-stabilize", action="store_true", help="colour every frame on its own")
    arg(
        "--keyframe-every",
        type=number(int, 1),
        metavar="N",
        help="run the network on every Nth frame of a shot and on the first frame after "
        "a cut, and carry the colour along the motion to the frames between; 1 = every "
        f"frame (default: {KEYFRAME_EVERY} when stabilised with --mode single, else 1)",
    )
    arg(
        "--cut-threshold",
        type=number(float, 0, 1),
        default=StabilizerSettings.cut_threshold,
        metavar="X",
        help="luminance histogram distance (Bhattacharyya, 0-1) that counts as a "
        "scene cut; colour restarts after a cut (default %(default)s)",
    )
    arg(
        "--crf",
        type=number(int, 0, 51),
        default=18,
        metavar="Q",
        help="x264 quality, lower = better and bigger (default %(default)s, visually "
        "near-lossless)",
    )
    arg(
        "--x264-preset",
        choices=X264_PRESETS,
        default=X264_PRESET,
        help="x264 speed preset: slower ones make smaller files at the same --crf quality "
        "(default %(default)s: half medium's encoding time, a ~9%% bigger file for the "
        "same quality)",
    )
    arg(
        "--report",
        action="store_true",
        help="measure flicker and colourfulness of per-frame and stabilised colour; print "
        "them and write OUT's name + .report.json",
    )


def run_cli(args: argparse.Namespace) -> int:
    src = Path(args.input).expanduser()
    dst = output_path(src, Path(args.output).expanduser() if args.output else None, args.overwrite)
    report_path = dst.with_suffix(".report.json")
    if args.report and report_path.exists() and not args.overwrite:
        raise ColorganError(f"{report_path}: exists (--overwrite replaces it)")
    open_input(src)[0].close()  # a bad input fails before the model loads
    hints = args_mod.hints_from(args)  # a bad hints file too
    settings = StabilizerSettings(strength=args.strength, cut_threshold=args.cut_threshold)
    options = VideoOptions(
        batch=args.batch,
        stabilize=not args.no_stabilize,
        settings=settings,
        crf=args.crf,
        x264_preset=args.x264_preset,
        report=args.report,
        overwrite=args.overwrite,
        hints=hints,
        reference=args.reference,
        keyframe_every=args.keyframe_every,
    )
    colorizer = Colorizer.load(
        args.model,
        device=args.device,
        backend=args.backend,
        precision=args.precision,
        threads=NETWORK_CALL_THREADS,
    )
    colorizer = colorizer.using(**args_mod.colour_options(args), restore=args.restore)
    result = colorize_video(src, dst, colorizer, options)
    print(
        f"colorized {result.frames} frames into {dst} in {result.seconds:.1f} s "
        f"({result.fps:.1f} frames/s"
        + (f", {result.shots} shots" if result.shots else "")
        + f", network on {result.keyframes})"
    )
    code = truncation_exit(src, result, args.allow_truncated)
    if result.report is not None:
        report = {
            "input": str(src),
            "output": str(dst),
            "strength": args.strength,
            "cut_threshold": args.cut_threshold,
            **result.report,
        }
        atomic.write_text(report_path, json.dumps(report, indent=2) + "\n")
        from colorgan.evaluation.flicker import report_line

        print(report_line(result.report) + f" [{report_path}]")
    return code


def truncation_exit(src: Path, result: VideoResult, allowed: bool) -> int:
    """Warn about an input that gave fewer frames than it declares; exit code 1 for it
    unless --allow-truncated (the output, all that could be coloured, is kept)."""
    if result.shortfall is None:
        return 0
    print(
        f"warning: {src}: {result.shortfall}: the input is truncated or damaged; the output "
        f"has {result.frames} frames"
        + ("" if allowed else " (exit code 1; --allow-truncated accepts this)"),
        file=sys.stderr,
    )
    return 0 if allowed else 1
