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
import os
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from colorgan.core.errors import ColorganError
from colorgan.io import images as imageio
from colorgan.pipeline import colorizer as inference
from colorgan.pipeline.temporal import SequenceColorizer, StabilizerSettings, report_line

log = logging.getLogger(__name__)

SUFFIX = "_color"
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264_mf")
# Codecs that MP4 players play; FFmpeg's MP4 muxer takes more (PCM...) that many do not.
MP4_AUDIO_COPY = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}
CONTAINER_ONLY_META = {"major_brand", "minor_version", "compatible_brands", "encoder"}
# FFmpeg's channel layout for a channel count (av_channel_layout_default), for audio tracks
# that only say how many channels they have, which the AAC encoder does not accept.
DEFAULT_LAYOUTS = dict(enumerate(["mono", "stereo", "2.1", "4.0", "5.0", "5.1", "6.1", "7.1"], 1))


@dataclass
class VideoOptions:
    batch: int = 8
    stabilize: bool = True
    settings: StabilizerSettings = field(default_factory=StabilizerSettings)
    saturation: float = 1.0
    crf: int = 18
    report: bool = False
    overwrite: bool = False


@dataclass
class VideoResult:
    output: Path
    frames: int
    seconds: float
    shots: int  # scenes found (cuts + 1); 0 without the stabiliser, which finds them
    measure_seconds: float = 0.0  # part of `seconds` spent measuring flicker (--report)
    report: dict | None = None

    @property
    def fps(self) -> float:
        """Frames per second of colouring alone (decode to encode, without --report)."""
        return self.frames / max(self.seconds - self.measure_seconds, 1e-9)


# --- files ---------------------------------------------------------------------------------


def open_input(src: Path):
    """(input container, its video stream); one-line ColorganErrors for unusable files."""
    if not src.is_file():
        raise ColorganError(f"{src}: no such file")
    try:
        container = av.open(str(src), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise ColorganError(f"{src}: not a video file FFmpeg can read ({_reason(exc)})") from None
    kind = container.format.name
    if kind == "tty" or kind.endswith("_pipe") or kind == "image2":
        container.close()  # FFmpeg shows text files as ANSI art and images as 1-frame videos
        what = "a text file" if kind == "tty" else f"a still image ({kind.split('_')[0]})"
        raise ColorganError(f"{src}: is {what}, not a video (photos: colorgan colorize)")
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        container.close()
        raise ColorganError(f"{src}: has no video track (found: {', '.join(kinds)})")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def output_path(src: Path, out: Path | None, overwrite: bool) -> Path:
    """Where the result goes: OUT, or <stem>_color<ext> beside the input or in folder OUT."""
    ext = src.suffix.lower() if src.suffix.lower() in CONTAINERS else ".mp4"
    if out is None or out.is_dir():
        out = (src.parent if out is None else out) / f"{src.stem}{SUFFIX}{ext}"
    if out.suffix.lower() not in CONTAINERS:
        raise ColorganError(f"-o {out}: use one of {', '.join(CONTAINERS)} (H.264 containers)")
    if out.resolve() == src.resolve():
        raise ColorganError(f"-o {out}: is the input; never written over")
    if out.exists() and not overwrite:
        raise ColorganError(f"{out}: exists (--overwrite replaces it)")
    if not out.parent.is_dir():
        raise ColorganError(f"-o {out}: folder {out.parent} does not exist")
    return out


def pick_encoder() -> str:
    """libx264 where the PyAV wheel has it (the PyPI wheels do), else another H.264 one."""
    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.FFmpegError, ValueError):
            continue
    raise ColorganError("this PyAV/FFmpeg build has no H.264 encoder (libx264); reinstall av")


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]


# --- writing -------------------------------------------------------------------------------


class Writer:
    """The output container: H.264 video with the input's timing, audio copied or AAC."""

    def __init__(self, path: Path, fmt: str, source, vstream, crf: int) -> None:
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self.container = av.open(str(path), "w", format=fmt, options=options)
        meta = {k: v for k, v in source.metadata.items() if k not in CONTAINER_ONLY_META}
        self.container.metadata.update(meta)
        self.video = self._add_video(vstream, crf)
        self.audio = {}  # input stream index -> (input stream, output stream, copy?)
        for stream in source.streams.audio:
            try:
                self._add_audio(stream, fmt)
            except (av.FFmpegError, ValueError) as exc:  # e.g. a codec this FFmpeg lacks
                log.warning("audio track %d left out: %s", stream.index, _reason(exc))
        dropped = [s.type for s in source.streams if s not in (vstream, *source.streams.audio)]
        if dropped:  # subtitles, data, further video tracks
            log.warning("tracks left out (only video and audio go through): %s", dropped)
        self._last_pts: int | None = None

    def _add_video(self, src, crf: int):
        encoder = pick_encoder()
        rate = src.average_rate or src.guessed_rate or Fraction(25)
        options = {"crf": str(crf), "preset": "medium"} if encoder == "libx264" else {}
        out = self.container.add_stream(encoder, rate=rate, options=options)
        ctx = src.codec_context
        out.width, out.height = ctx.width, ctx.height
        # 4:2:0 needs even sides; odd-sized video keeps its size in 4:4:4 (fewer players).
        out.pix_fmt = "yuv420p" if ctx.width % 2 == ctx.height % 2 == 0 else "yuv444p"
        out.time_base = src.time_base  # the input's timestamps go through unchanged
        out.codec_context.time_base = src.time_base
        if ctx.sample_aspect_ratio:
            out.codec_context.sample_aspect_ratio = ctx.sample_aspect_ratio
        # Tag the YUV matrix we encode with, the one players assume for this size anyway.
        self.matrix = "ITU709" if ctx.height >= 720 else "SMPTE170M"
        out.codec_context.colorspace = 1 if ctx.height >= 720 else 6  # AVCOL_SPC_*
        out.codec_context.color_range = 1  # MPEG (limited) range
        return out

    def _add_audio(self, stream, fmt: str) -> None:
        name = stream.codec_context.name
        copy = name in self.container.supported_codecs and (fmt != "mp4" or name in MP4_AUDIO_COPY)
        if copy:
            out = self.container.add_stream_from_template(stream)
        else:
            log.info("audio track %d (%s): re-encoded to AAC for %s", stream.index, name, fmt)
            layout = stream.layout.name
            if layout.endswith("channels"):  # only a count, e.g. "1 channels"
                layout = DEFAULT_LAYOUTS.get(stream.channels, layout)
            out = self.container.add_stream("aac", rate=stream.rate, layout=layout)
        self.audio[stream.index] = (stream, out, copy)

    def write_frame(self, rgb: np.ndarray, pts: int, time_base: Fraction) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=self.video.pix_fmt, dst_colorspace=self.matrix, dst_color_range="MPEG"
        )
        # The encoder needs strictly increasing timestamps; broken files repeat some.
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        frame.pts, frame.time_base, self._last_pts = pts, time_base, pts
        self.container.mux(self.video.encode(frame))

    def write_audio(self, packet) -> None:
        src, out, copy = self.audio[packet.stream.index]
        if copy:
            if packet.dts is not None and packet.size:
                packet.stream = out
                self.container.mux(packet)
            return
        for frame in src.decode(packet):
            self.container.mux(out.encode(frame))

    def close(self) -> None:
        self.container.mux(self.video.encode(None))
        for _, out, copy in self.audio.values():
            if not copy:
                self.container.mux(out.encode(None))
        self.container.close()


# --- colouring -----------------------------------------------------------------------------


def _lightness(frame) -> np.ndarray:
    """CIE L (H, W) of a decoded frame, through the same code as photos."""
    range_ = frame.color_range if frame.color_range else None  # unset: swscale's default
    rgb = frame.to_ndarray(format="rgb24", src_color_range=range_)
    return inference.lightness(imageio.Photo(rgb))


def _frames(container, vstream, writer: Writer):
    """Decoded video frames in order; audio packets go to the writer on the way."""
    audio = [s for s in container.streams.audio if s.index in writer.audio]
    for packet in container.demux(vstream, *audio):
        if packet.stream.index != vstream.index:
            writer.write_audio(packet)
            continue
        try:
            frames = packet.decode()
        except av.InvalidDataError as exc:  # one damaged packet must not end an hour's work
            when = (
                f"{float(packet.pts * packet.time_base):.2f} s" if packet.pts is not None else "?"
            )
            log.warning("damaged video data at %s skipped: %s", when, _reason(exc))
            continue
        yield from frames


def _batches(frames, size: int):
    frames = iter(frames)
    while batch := list(islice(frames, size)):
        yield batch


def _encode_all(container, vstream, writer: Writer, colour: SequenceColorizer, src, batch) -> int:
    total = vstream.frames or None
    bar = tqdm(total=total, unit="frame", desc=src.name, file=sys.stderr, disable=None)
    count, next_pts = 0, 0
    rate = vstream.average_rate or vstream.guessed_rate or Fraction(25)
    default_step = max(1, round(1 / (rate * vstream.time_base)))  # one frame, in time_base
    with bar:
        for frames in _batches(_frames(container, vstream, writer), batch):
            Ls = [_lightness(f) for f in frames]
            if any(L.shape != (writer.video.height, writer.video.width) for L in Ls):
                raise ColorganError(f"{src}: the frame size changes mid-video; not supported")
            for frame, rgb in zip(frames, colour(Ls), strict=True):
                pts = frame.pts if frame.pts is not None else next_pts
                step = frame.duration or default_step
                writer.write_frame(rgb, pts, frame.time_base or vstream.time_base)
                next_pts = pts + step
            count += len(frames)
            bar.update(len(frames))
    if count == 0:
        raise ColorganError(f"{src}: the video track has no frames that could be decoded")
    return count


def colorize_video(src, dst, colorizer, options: VideoOptions | None = None) -> VideoResult:
    """Colour video file src into dst (a file, or a folder: see output_path)."""
    options = options or VideoOptions()
    src = Path(src)
    dst = output_path(src, Path(dst), options.overwrite)
    container, vstream = open_input(src)
    tmp = dst.with_name(f".{dst.stem}.partial-{os.getpid()}{dst.suffix}")
    writer = None
    colour = SequenceColorizer(
        colorizer, options.settings, options.stabilize, options.report, options.saturation
    )
    start = time.perf_counter()
    try:
        writer = Writer(tmp, CONTAINERS[dst.suffix.lower()], container, vstream, options.crf)
        frames = _encode_all(container, vstream, writer, colour, src, options.batch)
        writer.close()
        if dst.exists() and not options.overwrite:  # appeared while we worked
            raise ColorganError(f"{dst}: exists (--overwrite replaces it)")
        os.replace(tmp, dst)
    except av.FFmpegError as exc:
        raise ColorganError(f"{src}: {_reason(exc)}") from None
    except OSError as exc:
        raise ColorganError(f"{dst}: cannot write ({_reason(exc)})") from None
    finally:
        container.close()
        if tmp.exists():  # anything but success: no half-written file stays behind
            if writer is not None:
                with contextlib.suppress(av.FFmpegError, OSError, ValueError):
                    writer.container.close()
            tmp.unlink()
    seconds = time.perf_counter() - start
    report = colour.meter.summary() if colour.meter is not None else None
    return VideoResult(dst, frames, seconds, colour.shots, colour.measure_seconds, report)


# --- command line --------------------------------------------------------------------------


def _number(kind: type, low: float, high: float = float("inf")):
    """argparse type: a number of `kind` between low and high."""

    def parse(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low} and {high}")
        return value

    return parse


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
    arg(
        "--model",
        default="default",
        help="'default', a run folder, a checkpoint folder or a generator .safetensors file",
    )
    arg(
        "--size",
        type=_number(int, 1),
        metavar="N",
        help="working size: the network sees each "
        "frame with its long side at N pixels (default: the model's working size)",
    )
    arg("--batch", type=_number(int, 1), default=8, metavar="N", help="frames per network call")
    arg(
        "--strength",
        type=_number(float, 0, 1),
        default=StabilizerSettings.strength,
        metavar="X",
        help="temporal stabilisation, 0 = per-frame colours, 1 = strong (default %(default)s)",
    )
    arg("--no-stabilize", action="store_true", help="colour every frame on its own")
    arg(
        "--cut-threshold",
        type=_number(float, 0, 1),
        default=StabilizerSettings.cut_threshold,
        metavar="X",
        help="luminance histogram distance (Bhattacharyya, 0-1) that counts as a "
        "scene cut; colour restarts after a cut (default %(default)s)",
    )
    arg(
        "--saturation",
        type=_number(float, 0),
        default=1.0,
        metavar="X",
        help="scale the colour: 0 = gray, 1 = as predicted (default), >1 more colourful",
    )
    arg(
        "--crf",
        type=_number(int, 0, 51),
        default=18,
        metavar="Q",
        help="x264 quality, lower = better "
        "and bigger (default %(default)s, visually near-lossless)",
    )
    arg(
        "--report",
        action="store_true",
        help="measure flicker and colourfulness of per-frame "
        "and stabilised colour; print them and write OUT's name + .report.json",
    )
    arg("--overwrite", action="store_true", help="replace an existing output (never the input)")
    arg("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    arg(
        "--backend",
        choices=inference.BACKENDS,
        default="auto",
        help="network runtime; auto = ONNX Runtime on the CPU (faster, measured), torch on CUDA",
    )


def run_cli(args: argparse.Namespace) -> int:
    src = Path(args.input).expanduser()
    dst = output_path(src, Path(args.output).expanduser() if args.output else None, args.overwrite)
    report_path = dst.with_suffix(".report.json")
    if args.report and report_path.exists() and not args.overwrite:
        raise ColorganError(f"{report_path}: exists (--overwrite replaces it)")
    open_input(src)[0].close()  # a bad input fails before the model loads
    settings = StabilizerSettings(strength=args.strength, cut_threshold=args.cut_threshold)
    options = VideoOptions(
        batch=args.batch,
        stabilize=not args.no_stabilize,
        settings=settings,
        saturation=args.saturation,
        crf=args.crf,
        report=args.report,
        overwrite=args.overwrite,
    )
    colorizer = inference.Colorizer.load(
        args.model, device=args.device, working_size=args.size, backend=args.backend
    )
    result = colorize_video(src, dst, colorizer, options)
    print(
        f"colorized {result.frames} frames into {dst} in {result.seconds:.1f} s "
        f"({result.fps:.1f} frames/s" + (f", {result.shots} shots)" if result.shots else ")")
    )
    if result.report is not None:
        report = {
            "input": str(src),
            "output": str(dst),
            "strength": args.strength,
            "cut_threshold": args.cut_threshold,
            **result.report,
        }
        report_path.write_text(json.dumps(report, indent=2) + "\n")
        print(report_line(result.report) + f" [{report_path}]")
    return 0
