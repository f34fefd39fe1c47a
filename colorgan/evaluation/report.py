"""Report outputs of `colorgan evaluate` and `colorgan experiments`: the comparison table
(report.md, report.json, per_image.csv), the image grid and the training curves (matplotlib
with the Agg backend: no display needed)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid

from colorgan.io import atomic

# column key -> (table header, better): the order of the table
COLUMNS = {
    "mae_rgb": ("MAE RGB", "low"),
    "mae_ab": ("MAE ab", "low"),
    "acc_ab": ("acc ab@{eps}", "high"),
    "psnr": ("PSNR dB", "high"),
    "ssim": ("SSIM", "high"),
    "ciede2000": ("CIEDE2000", "low"),
    "hint_ciede2000": ("hint CIEDE2000", "low"),  # only with --hints
    "colorfulness": ("colourful.", "truth"),
    "delta_colorfulness": ("dColourful.", "low"),
    "lpips": ("LPIPS-VGG", "low"),
    "fid": ("FID", "low"),
    "fd_mobilenetv2": ("FD-MobileNetV2", "low"),
    "img_per_s_b1": ("img/s b1", "high"),
    "img_per_s_b16": ("img/s b16", "high"),
}


HEADER = 14  # pixels of the label row above each column
PAD = 2


def save_grid(path: Path, columns: list[tuple[str, torch.Tensor]], n: int) -> None:
    """A PNG with one row per image and one labelled column per (label, (N, 3, H, W)) entry.

    Labels are cut to what fits the column (PIL's built-in font, about 6 px a character);
    report.md lists the columns in full.
    """
    n = min(n, *(len(t) for _, t in columns))
    cells = torch.stack([t[:n].float().clamp(0, 1) for _, t in columns], 1).flatten(0, 1)
    grid = make_grid(cells, nrow=len(columns), padding=PAD, pad_value=1.0)
    arr = (grid.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")
    body = Image.fromarray(arr)
    canvas = Image.new("RGB", (body.width, body.height + HEADER), "white")
    canvas.paste(body, (0, HEADER))
    draw = ImageDraw.Draw(canvas)
    cell_w = columns[0][1].shape[-1] + PAD
    for i, (label, _) in enumerate(columns):
        text = label if len(label) * 6 <= cell_w else label[: max(1, cell_w // 6 - 1)] + "~"
        draw.text((PAD + i * cell_w, 1), text, fill="black")
    png = io.BytesIO()
    canvas.save(png, format="PNG")
    atomic.write_bytes(path, png.getbuffer())


def plot_curves(
    path: Path,
    series: dict[str, dict[str, tuple[list[float], list[float]]]],
    title: str,
    logy: bool = False,
) -> bool:
    """One panel per metric, one line per run: series[run][metric] = (steps, values).

    Returns False (and writes nothing) when there is nothing to plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted({m for runs in series.values() for m, (x, _) in runs.items() if x})
    if not metrics:
        return False
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for run, curves in series.items():
            if curves.get(metric) and curves[metric][0]:
                steps, values = curves[metric]
                ax.plot(steps, values, label=run, marker="o" if len(steps) < 12 else None)
        ax.set_title(metric)
        ax.set_xlabel("step")
        if logy and all(v > 0 for c in series.values() for v in c.get(metric, ([], []))[1]):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, dpi=100, format="png")
    atomic.write_bytes(path, png.getbuffer())
    plt.close(fig)
    return True


# --- the report files ------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    if abs(value) < 1e-9:  # float round-off of an exact 0 (e.g. a distance of a set to itself)
        return "0"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def _json_safe(value):
    """Strict JSON has no inf/nan: they are written as the strings "inf" and "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _table_columns(report: dict) -> list[tuple[str, str, str]]:
    """(key, header, better) of every column, acc ab once per eps."""
    cols = []
    for key, (header, better) in COLUMNS.items():
        if key == "acc_ab":
            cols += [
                (f"acc_ab@{e:g}", header.format(eps=f"{e:g}"), better)
                for e in report["settings"]["eps"]
            ]
        elif key != "hint_ciede2000" or any(key in m["metrics"] for m in report["models"]):
            cols.append((key, header, better))
    return cols


METRIC_NOTES = [
    "hint CIEDE2000 (with --hints): over the hinted pixels, the output against the hinted "
    "colour (the hint's ab with the output's own L)",
    "MAE RGB: mean |output - truth| on RGB in [0, 255]",
    "MAE ab: on normalised ab ([-1, 1]; 1 unit = 110 Lab units), ab taken from the 8-bit "
    "output (so Lab and RGB models are measured alike); acc ab@eps: share of a and b values "
    "within eps of the truth, eps in those units (0.02 = 2.2 Lab units)",
    "PSNR: data range 1.0 on RGB in [0, 1] (= 255 on 8-bit values), per image; SSIM: "
    "Gaussian window 11, sigma 1.5, the 5-px border excluded (Wang et al., scikit-image)",
    "CIEDE2000: mean over pixels (scikit-image's formula on colorgan's D65 Lab)",
    "colourfulness: Hasler & Suesstrunk 2003 (closer to the ground truth's is better); "
    "dColourful.: mean over images of |C(output) - C(truth)|",
    "LPIPS: VGG16 trunk (Zhang et al. 2018 weights). FID: Inception-v3 pool features (2048-d). "
    "FD-MobileNetV2: Frechet distance on pooled ImageNet MobileNetV2 features (1280-d), not "
    "FID and not comparable with FID numbers. Frechet distances are biased upwards at small "
    "N: compare only runs on the same images",
    "img/s: L to sRGB at the evaluation size, batch 1 and 16, after warm-up; decoding not included",
]
ARROWS = {"low": " ↓", "high": " ↑", "truth": ""}


def _header(report: dict, title: str) -> list[str]:
    s, images, env = report["settings"], report["images"], report["environment"]
    skipped = len(images["skipped"])
    eps = ", ".join(f"{e:g}" for e in s["eps"])
    lines = [
        f"# {title}",
        "",
        f"- images: `{s['dataset']}`: {images['found']} found, {images['evaluated']} "
        f"evaluated, {skipped} skipped" + (" (listed below)" if skipped else ""),
        f"- protocol: {report['protocol']}",
        f"- size {s['size']} px; acc ab thresholds {eps}; batch {s['batch_size']}; device "
        f"{env['device']}; torch {env['torch']} ({env['threads']} threads, load average "
        f"{env.get('load_average')}); colorgan {report['colorgan_version']}; {report['date']}",
    ]
    if s.get("split"):
        lines.append(f"- held-out images: {s['split']}")
    if s.get("grid"):
        names = " | ".join(m["name"] for m in report["models"] if m["kind"] != "truth")
        lines.append(f"- grid.png: the first {s['grid']} images; input (L) | {names} | truth")
    return lines + [f"- {note}" for note in METRIC_NOTES]


def markdown(report: dict, title: str = "colorgan evaluation") -> str:
    cols = _table_columns(report)
    lines = _header(report, title)
    truth_c = [m["metrics"].get("colorfulness_truth") for m in report["models"]]
    if truth_c and truth_c[0] is not None:
        lines.append(f"- colourfulness of the ground truth: {_fmt(truth_c[0])}")
    lines += [
        "",
        "| model | " + " | ".join(h + ARROWS[b] for _, h, b in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for m in report["models"]:
        values = " | ".join(_fmt(m["metrics"].get(k)) for k, _, _ in cols)
        lines.append(f"| {m['name']} | {values} |")
    lines += ["", "↓ lower is better, ↑ higher is better; n/a: see below."]
    notes = {(k, v) for m in report["models"] for k, v in m["unavailable"].items()}
    if notes:
        lines += ["", "## Metrics not computed", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(notes)]
    lines += ["", "## Models", ""]
    for m in report["models"]:
        lines.append(f"- {m['name']}: " + ", ".join(f"{k}={v}" for k, v in m["info"].items()))
    if report["images"]["skipped"]:
        lines += ["", "## Skipped images", ""]
        lines += [f"- `{x['image']}`: {x['reason']}" for x in report["images"]["skipped"]]
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: Path, report: dict) -> None:
    rows = report["rows"]
    body = {k: v for k, v in report.items() if k != "rows"}
    atomic.write_text(out_dir / "report.json", json.dumps(_json_safe(body), indent=1) + "\n")
    atomic.write_text(out_dir / "report.md", markdown(report))
    keys = list(dict.fromkeys(k for r in rows for k in r))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(out_dir / "per_image.csv", table.getvalue())


def suite_markdown(suite: dict, rows: list[tuple], report: dict, plots: list[str]) -> str:
    """report.md of `colorgan experiments`: the budget and runs, then the evaluation.
    rows: (preset, generator, steps, measured seconds per step or None, what this call did)."""
    budget = suite["budget"]
    how = (
        f"{budget['steps']} steps each"
        if "steps" in budget
        else f"{budget['minutes']} minutes each, converted to steps by timing "
        f"{suite['speed_steps']} GAN steps of each preset (data loading not included)"
    )
    lines = [
        f"# colorgan experiments: {len(rows)} presets",
        "",
        f"- data: `{suite['data']}`; training size {suite['size']} px; batch {suite['batch_size']}",
        f"- budget: {how}",
        f"- held-out images: {suite['split']}",
        "- reproduce: commands.md",
        "",
        "| preset | generator | steps | measured s/step | this call |",
        "|---|---|---:|---:|---|",
    ]
    for preset, generator, steps, seconds, status in rows:
        sec = f"{seconds:.3f}" if seconds else "-"
        lines.append(f"| {preset} | {generator} | {steps} | {sec} | {status} |")
    lines += ["", markdown(report, title="Evaluation").replace("# Evaluation", "## Evaluation", 1)]
    lines += [f"![{name}]({name})" for name in plots]
    return "\n".join(lines) + "\n"
