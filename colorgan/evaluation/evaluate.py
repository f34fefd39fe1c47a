"""`colorgan evaluate`: several models on the same images under one fixed protocol.

Colorization papers disagree partly because each evaluates differently; here the protocol is
fixed and written into every report:
  * each image: EXIF orientation applied, short side resized to --size (bicubic), centre crop
    of --size x --size (the same transform as the validation split of training);
  * each model sees only the lightness L of that crop, read as `colorize` reads a photo
    (colorgan.core.fastcolor.lightness); Lab models' output becomes sRGB through the one
    composition `colorize` uses (Colorizer.compose: colorgan.core.fastcolor.compose, the input
    L kept, out-of-gamut colours lose chroma, not clipped); RGB models are scored on their RGB;
  * outputs are rounded to 8 bits (what a saved PNG holds) before any metric;
  * per-image metrics are averaged over images; FID and FD-MobileNetV2 compare the set of
    outputs with the set of ground-truth crops.
Baselines: `gray` (ab = 0: the input itself) and `truth` (the ground truth: a sanity row that
must give MAE 0 and PSNR inf).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from colorgan import __version__
from colorgan.core import fastcolor
from colorgan.core.color import denormalize_l, normalize_l, output_to_rgb
from colorgan.core.errors import ColorganError
from colorgan.evaluation import simulated_hints
from colorgan.evaluation.metrics import (
    FeatureStats,
    MetricUnavailable,
    inception_network,
    lpips_network,
    mobilenet_network,
    pixel_metrics,
    quantize,
)
from colorgan.evaluation.report import save_grid, write_outputs
from colorgan.io import images
from colorgan.pipeline import decode
from colorgan.pipeline.loading import LoadedModel, load_model
from colorgan.pipeline.runner import ModelRunner
from colorgan.training import data as data_mod
from colorgan.training import folders

PROTOCOL = (
    "EXIF orientation applied, short side resized to {size} px (Pillow bicubic; big JPEGs "
    "decoded at a reduced DCT scale first), centre crop {size}x{size}: the validation "
    "transform of colorgan.training.data; the model sees L only (read as colorize reads it); "
    "output composed as colorize composes it (colorgan.core.fastcolor.compose), 8-bit; "
    "per-image metrics averaged over images"
)
log = logging.getLogger(__name__)

BASELINES = ("gray", "truth")
SET_METRICS = ("fid", "fd_mobilenetv2")  # distances between sets, not per image
OPTIONAL = ("lpips", "fid", "fd_mobilenetv2", "throughput")
THROUGHPUT_BATCHES = (1, 16)


# --- the models under test ---------------------------------------------------------------------
@dataclass
class Candidate:
    """One row of the table: a model (its ModelRunner's single pass, at the crop's size),
    or a baseline (`gray`, `truth`)."""

    name: str
    kind: str  # "generator" or a baseline name
    runner: ModelRunner | None = None
    info: dict = field(default_factory=dict)

    @torch.no_grad()
    def colorize(self, l_norm, truth, hint=None, ref=None, vividness=None) -> torch.Tensor:
        """sRGB [0, 1] for a batch of network L; `truth` is used by the `truth` row only;
        hint/ref: guidance inputs (colorgan.evaluation.simulated_hints) for guided models."""
        if self.kind == "truth":
            return truth
        c = self.runner
        if c is not None and c.color_space == "rgb":  # the protocol scores RGB models' own RGB
            return output_to_rgb(l_norm, c.forward(l_norm, hint, ref).to(l_norm.device), "rgb")
        if self.kind == "gray":
            ab = np.zeros((len(l_norm), 2, 1, 1), np.float32)
        else:
            ab = c.predict(l_norm.cpu().numpy(), _array(hint), _array(ref), vividness)
        return compose(l_norm, ab).to(l_norm.device)


def _array(x):
    return None if x is None else x.cpu().numpy()


def crop_lightness(truth: torch.Tensor) -> torch.Tensor:
    """Network L (B,1,H,W) in [-1, 1] of sRGB crops in [0, 1] (8-bit values), read as
    `colorize` reads a photo (colorgan.core.fastcolor.lightness)."""
    pixels = (truth * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    L = np.stack([fastcolor.lightness(p) for p in pixels])[:, None]
    return torch.from_numpy(normalize_l(L)).to(truth.device)


def compose(l_norm: torch.Tensor, ab: np.ndarray) -> torch.Tensor:
    """sRGB [0, 1] (B,3,H,W) from network L and ab (B,2,h,w): the composition `colorize`
    writes (Colorizer.compose is colorgan.core.fastcolor.compose at saturation 1)."""
    L = denormalize_l(l_norm[:, 0].cpu().numpy())
    rgb = np.stack([fastcolor.compose(light, a) for light, a in zip(L, ab, strict=True)])
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255


def from_model(name: str, model: LoadedModel, source: str | None = None) -> Candidate:
    """A Candidate for a loaded model (colorgan.pipeline.loading)."""
    cfg = model.config
    info = {
        "source": source or str(model.ref.path),
        "preset": cfg.preset,
        "generator": cfg.model.generator,
        "width": cfg.model.width,
        "color_space": cfg.model.color_space,
        "train_size": cfg.data.size,
        "train_steps": cfg.train.steps,
        "backend": model.backend,
    }
    if isinstance(model.network, nn.Module):
        info["parameters"] = sum(p.numel() for p in model.network.parameters())
    return Candidate(name, "generator", ModelRunner.from_model(model), info)


def load_candidate(spec: str, device, backend: str = "torch") -> Candidate:
    """A baseline name, or any model reference ("default", a run dir / checkpoint / file,
    an .onnx export: colorgan.io.modelfile.resolve_model)."""
    if spec in BASELINES:
        return Candidate(spec, spec, info={"source": "baseline"})
    try:
        model = load_model(spec, backend, device)
    except ColorganError as exc:
        raise ColorganError(f"--model {spec}: {exc}") from None
    return from_model(spec, model)


# --- images --------------------------------------------------------------------------------
def load_eval_image(path: Path, size: int) -> torch.Tensor:
    """The protocol's crop, sRGB (3, size, size) in [0, 1]: the validation transform of
    colorgan.training.data (deterministic), on the package's one reader."""
    im = images.open_rgb(path, min_short=size)
    return folders.image_to_tensor(data_mod.scaled_crop(im, size, size, centre=True))


def _batches(files, size: int, batch_size: int, skipped: list, bar):
    batch: list[tuple[Path, torch.Tensor]] = []
    for path in files:
        try:
            batch.append((path, load_eval_image(path, size)))
        except (*folders.LOAD_ERRORS, ColorganError) as exc:
            skipped.append({"image": str(path), "reason": f"{type(exc).__name__}: {exc}"})
        bar.update(1)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- settings and the networks of the feature metrics --------------------------------------
@dataclass
class EvalSettings:
    size: int = 256
    eps: tuple[float, ...] = (0.02, 0.05)
    grid: int = 8
    batch_size: int = 8
    device: str = "cpu"
    skip: tuple[str, ...] = ()  # any of OPTIONAL
    throughput_seconds: float = 1.0  # least time each img/s measurement runs
    lpips_weights: str = "imagenet"  # or a local VGG16 state dict
    fid_weights: str | None = None  # a local torch-fidelity Inception file
    dataset: str = ""  # how the report names the images
    split: str = ""  # how the images were kept apart from training data, if known
    hints: int = 0  # simulated user hints per image (colorgan.evaluation.simulated_hints)
    hint_seed: int = 0
    hint_size: int = simulated_hints.HINT_PATCH
    reference: str | None = None  # "self": each photo's own truth as the reference
    vividness: float | None = None  # distribution heads: the knob (pipeline/decode.py)
    temperature: float | None = None  # distribution heads: replaces the model's own


def build_networks(settings: EvalSettings) -> dict[str, nn.Module | MetricUnavailable]:
    """Each feature metric's network, or the reason it is not available (never a crash)."""
    builders = {
        "lpips": lambda: lpips_network(weights=settings.lpips_weights),
        "fid": lambda: inception_network(weights=settings.fid_weights),
        "fd_mobilenetv2": mobilenet_network,
    }
    nets: dict[str, nn.Module | MetricUnavailable] = {}
    for key, build in builders.items():
        if key in settings.skip:
            nets[key] = MetricUnavailable("skipped (--skip)")
            continue
        try:
            nets[key] = build().to(settings.device)
        except MetricUnavailable as exc:
            nets[key] = exc
    return nets


def measure_throughput(
    candidate: Candidate, size: int, batch: int, device, seconds: float = 1.0
) -> float:
    """Images/s from L to sRGB at size x size, after two warm-up batches; at least 3 timed
    batches and `seconds` (image decoding not included: it is the same for every model)."""
    gen = torch.Generator().manual_seed(0)
    l_norm = (torch.rand(batch, 1, size, size, generator=gen) * 2 - 1).to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(2):
        candidate.colorize(l_norm, l_norm)
    sync()
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        candidate.colorize(l_norm, l_norm)
        sync()
        n += 1
    return n * batch / (time.perf_counter() - start)


# --- the evaluation ------------------------------------------------------------------------
@dataclass
class _Scores:
    rows: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)  # set metric -> FeatureStats of the outputs
    grid: list = field(default_factory=list)


def _score(cand, scores, pred, truth, names, nets, settings, hint=None) -> None:
    values = pixel_metrics(pred, truth, settings.eps)
    if hint is not None and cand.kind == "generator":  # how closely the hints were followed
        values["hint_ciede2000"] = simulated_hints.hint_ciede2000(pred, hint)
    if "lpips" in nets:
        values["lpips"] = nets["lpips"](pred, truth).float().cpu()
    for key in SET_METRICS:
        if key in nets:
            scores.stats.setdefault(key, FeatureStats()).add(nets[key](pred))
    for i, name in enumerate(names):
        scores.rows.append(
            {"image": name, "model": cand.name, **{k: float(v[i]) for k, v in values.items()}}
        )
    need = settings.grid - sum(len(g) for g in scores.grid)
    if need > 0:
        scores.grid.append(pred[:need].cpu())


def _mean(values: list[float]) -> float:
    return math.inf if any(math.isinf(v) for v in values) else math.fsum(values) / len(values)


def _summaries(candidates, scores, real, nets, unavailable, settings) -> list[dict]:
    out = []
    for cand in candidates:
        rows = scores[cand.name].rows
        keys = [k for k in rows[0] if k not in ("image", "model")] if rows else []
        metrics = {k: _mean([r[k] for r in rows]) for k in keys}
        missing = dict(unavailable)
        for key in SET_METRICS:
            if key in nets and real[key].n >= 2:
                metrics[key] = real[key].distance(scores[cand.name].stats[key])
            elif key in nets:
                missing[key] = "not available: needs at least 2 images"
        if "throughput" in settings.skip:
            missing["throughput"] = "not available: skipped (--skip)"
        elif cand.kind == "generator":
            log.info("measuring the throughput of %s", cand.name)
            for b in THROUGHPUT_BATCHES:
                metrics[f"img_per_s_b{b}"] = measure_throughput(
                    cand, settings.size, b, settings.device, settings.throughput_seconds
                )
        out.append(
            {
                "name": cand.name,
                "kind": cand.kind,
                "info": cand.info,
                "metrics": metrics,
                "unavailable": missing,
            }
        )
    return out


def evaluate(
    files: list[Path],
    candidates: list[Candidate],
    settings: EvalSettings,
    out_dir: Path,
    networks: dict | None = None,
    overwrite: bool = False,
    write: bool = True,
) -> dict:
    """Score every candidate on every readable file; write the report files into out_dir.

    `networks` replaces build_networks (tests inject stand-ins). Returns the report (the
    content of report.json) with "rows" (per image) added.
    """
    out_dir = Path(out_dir)
    check_guidance(candidates, settings)
    if settings.temperature is not None:
        candidates = [with_temperature(c, settings.temperature) for c in candidates]
    if write and (out_dir / "report.md").exists() and not overwrite:
        raise ColorganError(f"{out_dir} already holds a report; choose another --out")
    nets_all = build_networks(settings) if networks is None else networks
    nets = {k: v for k, v in nets_all.items() if not isinstance(v, MetricUnavailable)}
    unavailable = {k: f"not available: {v}" for k, v in nets_all.items() if k not in nets}
    real = {k: FeatureStats() for k in SET_METRICS if k in nets}
    scores = {c.name: _Scores() for c in candidates}
    skipped: list[dict] = []
    gray_inputs: list[torch.Tensor] = []
    truths: list[torch.Tensor] = []
    root = Path(settings.dataset) if settings.dataset and Path(settings.dataset).is_dir() else None
    with tqdm(total=len(files), desc="evaluating", unit="img") as bar, torch.inference_mode():
        for batch in _batches(files, settings.size, settings.batch_size, skipped, bar):
            names = [str(p.relative_to(root)) if root else str(p) for p, _ in batch]
            truth = torch.stack([t for _, t in batch]).to(settings.device)
            l_norm = crop_lightness(truth)
            for key, stats in real.items():
                stats.add(nets[key](truth))
            hint, ref = simulated_hints.guidance_inputs(truth, names, settings, _bins(candidates))
            for cand in candidates:
                pred = quantize(cand.colorize(l_norm, truth, hint, ref, settings.vividness))
                _score(cand, scores[cand.name], pred, truth, names, nets, settings, hint)
            if sum(len(g) for g in gray_inputs) < settings.grid:
                gray_inputs.append(((l_norm + 1) / 2).expand(-1, 3, -1, -1).cpu())
                truths.append(truth.cpu())
    if len(skipped) == len(files):
        reasons = "; ".join(f"{x['image']}: {x['reason']}" for x in skipped[:3])
        raise ColorganError(f"none of the {len(files)} images could be read ({reasons})")
    models = _summaries(candidates, scores, real, nets, unavailable, settings)
    report = _report(files, skipped, models, settings)
    report["rows"] = [r for c in candidates for r in scores[c.name].rows]
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_outputs(out_dir, report)
        if settings.grid:
            columns = [("input (L)", gray_inputs)]
            columns += [(c.name, scores[c.name].grid) for c in candidates if c.kind != "truth"]
            columns += [("truth", truths)]
            columns = [(name, torch.cat(parts)) for name, parts in columns]
            save_grid(out_dir / "grid.png", columns, settings.grid)
    return report


def with_temperature(candidate: Candidate, temperature: float) -> Candidate:
    """The candidate decoding at another temperature (a copy; baselines as they are)."""
    if candidate.runner is None:
        return candidate
    runner = copy.copy(candidate.runner)
    runner.temperature = decode.check_temperature(temperature)
    return replace(candidate, runner=runner)


def _bins(candidates):
    """The ab bins of the first guided model (references are histograms over them)."""
    return next((c.runner.bins for c in candidates if c.runner and c.runner.guided), None)


def check_guidance(candidates, settings: EvalSettings) -> None:
    """--hints / --reference need guided models (the baselines ignore them)."""
    if not (settings.hints or settings.reference):
        return
    for c in candidates:
        if c.runner is not None and not c.runner.guided:
            raise ColorganError(f"--model {c.name}: takes no hints or reference (not guided)")


def _protocol(settings: EvalSettings) -> str:
    text = PROTOCOL.format(size=settings.size)
    if settings.hints:
        text += (
            f"; {settings.hints} simulated hints per image ({settings.hint_size}x"
            f"{settings.hint_size} patches of the truth's mean ab, positions ~ N(centre, "
            f"side/4), seed {settings.hint_seed}: SIGGRAPH 2017's protocol)"
        )
    if settings.reference == "self":
        text += "; each photo's own ground truth as the reference"
    return text


def _report(files, skipped, models, settings: EvalSettings) -> dict:
    return {
        "colorgan_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": _protocol(settings),
        "settings": {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()
        },
        "environment": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": str(settings.device),
            # img/s depends on what else the machine runs: the 1-minute load says how busy
            "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
        "images": {"found": len(files), "evaluated": len(files) - len(skipped), "skipped": skipped},
        "models": models,
    }
