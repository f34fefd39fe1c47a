"""Video files for `colorgan video`: opening the input, naming and writing the output (H.264
with the input's timing, audio copied or re-encoded), decoding frames in order.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np

from colorgan.core.errors import ColorganError

log = logging.getLogger(__name__)

SUFFIX = "_color"
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264_mf")
# x264's speed presets, fastest first. The default: "veryfast" encodes a 768x576 frame in
# 16 CPU-ms against 33 for "medium" (benchmarks/video_encode.py: bikes.mp4, crf 18); at 25
# frames/s medium alone took 40 % of two cores' time. At the same crf veryfast is 0.3 dB PSNR
# lower with a 5 % smaller file; for the same quality (crf 17: 42.22 dB, medium at crf 18:
# 42.30) its file is 9 % bigger. Archives that care for size more than time ask for
# "medium" or slower (--x264-preset).
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)
X264_PRESET = "veryfast"
# Codecs that MP4 players play; FFmpeg's MP4 muxer takes more (PCM...) that many do not.
MP4_AUDIO_COPY = {"aac", "mp3", "ac3", "eac3", "opus", "alac", "flac"}
CONTAINER_ONLY_META = {"major_brand", "minor_version", "compatible_brands", "encoder"}
# FFmpeg's channel layout for a channel count (av_channel_layout_default), for audio tracks
# that only say how many channels they have, which the AAC encoder does not accept.
DEFAULT_LAYOUTS = dict(enumerate(["mono", "stereo", "2.1", "4.0", "5.0", "5.1", "6.1", "7.1"], 1))


# --- files ---------------------------------------------------------------------------------


def open_input(src: Path):
    """(input container, its video stream); one-line ColorganErrors for unusable files."""
    if not src.is_file():
        raise ColorganError(f"{src}: no such file")
    try:
        container = av.open(str(src), "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise ColorganError(f"{src}: not a video file FFmpeg can read ({reason(exc)})") from None
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


def reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]


# --- writing -------------------------------------------------------------------------------


class Writer:
    """The output container: H.264 video with the input's timing, audio copied or AAC."""

    def __init__(
        self, path: Path, fmt: str, source, vstream, crf: int, preset: str = X264_PRESET
    ) -> None:
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self.container = av.open(str(path), "w", format=fmt, options=options)
        meta = {k: v for k, v in source.metadata.items() if k not in CONTAINER_ONLY_META}
        self.container.metadata.update(meta)
        self.video = self._add_video(vstream, crf, preset)
        self.audio = {}  # input stream index -> (input stream, output stream, copy?)
        for stream in source.streams.audio:
            try:
                self._add_audio(stream, fmt)
            except (av.FFmpegError, ValueError) as exc:  # e.g. a codec this FFmpeg lacks
                log.warning("audio track %d left out: %s", stream.index, reason(exc))
        dropped = [s.type for s in source.streams if s not in (vstream, *source.streams.audio)]
        if dropped:  # subtitles, data, further video tracks
            log.warning("tracks left out (only video and audio go through): %s", dropped)
        self._last_pts: int | None = None

    def _add_video(self, src, crf: int, preset: str):
        encoder = pick_encoder()
        rate = src.average_rate or src.guessed_rate or Fraction(25)
        options = {"crf": str(crf), "preset": preset} if encoder == "libx264" else {}
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


def frames(container, vstream, writer: Writer, damaged: list | None = None):
    """Decoded video frames in order; audio packets go to the writer on the way; the time
    of each damaged packet skipped is appended to `damaged`."""
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
            log.warning("damaged video data at %s skipped: %s", when, reason(exc))
            if damaged is not None:
                damaged.append(when)
            continue
        yield from frames


def check_written(path: Path, dst: Path, count: int) -> float:
    """The finished file holds every frame encoded (FFmpeg reports most write errors, but
    a file that lost its end must never get the output's name). -> its end, in seconds."""
    found, end = 0, 0.0
    try:
        with av.open(str(path)) as written:
            for p in written.demux(video=0):
                if p.size:
                    found += 1
                    if p.pts is not None:
                        end = max(end, float((p.pts + (p.duration or 0)) * p.time_base))
    except (av.FFmpegError, OSError) as exc:
        why = reason(exc)
        raise ColorganError(f"{dst}: cannot write (unreadable after writing: {why})") from None
    if found != count:
        raise ColorganError(f"{dst}: cannot write (the file holds {found} of {count} frames)")
    return end


def missing_frames(container, vstream, decoded: int, end: float, damaged: list) -> str | None:
    """None when the input gave its video up to the end it declares, else a one-line account:
    where the decoded video ends (`end`, seconds) against the end the input declares (its
    frame count at its frame rate, or the stream's or the container's duration), and
    damaged packets. Not frames decoded against frames counted: a capture that dropped
    duplicate frames holds 68 frames at times spread over 444 (AVI counts the empty ones),
    and is whole."""
    problems = []
    rate = float(vstream.average_rate or vstream.guessed_rate or 25)
    if vstream.duration and vstream.time_base:  # where it ends: the timestamps go through
        start = float((vstream.start_time or 0) * vstream.time_base)
        declared = start + float(vstream.duration * vstream.time_base)
    else:
        start = (container.start_time or 0) / av.time_base
        declared = start + (container.duration or 0) / av.time_base
    if vstream.frames:  # the header's count of frame times: a cut AVI's duration is only
        declared = max(declared, start + vstream.frames / rate)  # what is left of it
    if declared - end > max(2.0 / rate, 0.02 * declared):  # the last frame's length
        expected = f"{vstream.frames}" if vstream.frames else f"about {round(declared * rate)}"
        problems.append(
            f"decoded {decoded} of {expected} frames "
            f"(the video stops at {end:.2f} s of {declared:.2f} s)"
        )
    if damaged:
        problems.append(f"{len(damaged)} damaged packet(s) skipped (first at {damaged[0]})")
    return "; ".join(problems) or None


def batches(frames, size: int):
    frames = iter(frames)
    while batch := list(islice(frames, size)):
        yield batch
