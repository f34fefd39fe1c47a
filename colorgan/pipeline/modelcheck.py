"""Checks on a generator file before and after its weights are loaded: that the network its
config describes has exactly the tensors the file holds (found by building the network on
PyTorch's "meta" device, which allocates nothing, and comparing with the shapes in the
file's header), and that no weight is NaN or Inf (a model whose training diverged colours
every photo black). The metadata itself is checked in colorgan.io.modelmeta.
"""

from __future__ import annotations

import logging
from pathlib import Path

from colorgan.core.errors import ColorganError
from colorgan.io import modelfile, modelmeta

log = logging.getLogger(__name__)

BUILD_ERRORS = (ValueError, TypeError, RuntimeError, KeyError, RecursionError, AttributeError)


def file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from the safetensors header only (no data read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ColorganError(f"{path}: damaged or not a safetensors file ({exc})") from None


def check_fits(cfg, path: Path) -> None:
    """ColorganError unless the generator cfg describes has the file's tensors, shape for
    shape: checked before the network is built for real, so a config edited to describe a
    huge network is refused without allocating it."""
    import torch

    from colorgan.models import generator_from_config

    try:
        with torch.device("meta"):
            generator = generator_from_config(cfg.model, cfg.data.size, load_pretrained=False)
    except ColorganError as exc:
        raise ColorganError(f"{path}: {exc}") from None
    except BUILD_ERRORS as exc:  # an architecture that cannot be built on "meta": the
        # real build (bounded by colorgan.io.modelmeta) will tell
        log.debug("%s: no shape check before loading (%s)", path, exc)
        return
    multiple = modelfile.size_multiple(generator)
    if multiple > modelmeta.MAX_SIZE_MULTIPLE:  # every photo padded to it: 65,536 px, 17 GB
        raise ColorganError(
            f"{path}: its network takes inputs in multiples of {multiple:,} pixels (a real "
            f"model's are at most {modelmeta.MAX_SIZE_MULTIPLE})"
        )
    wanted = {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    found = file_shapes(path)
    if wanted != found:
        name = cfg.model.generator
        count = sum(_numel(s) for s in wanted.values())
        held = sum(_numel(s) for s in found.values())
        raise ColorganError(
            f"{path}: its weights do not match its config (a {name} of width "
            f"{cfg.model.width}: {count:,} parameters; the file holds {held:,}); "
            f"{_first_difference(wanted, found)}"
        )


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _first_difference(wanted: dict, found: dict) -> str:
    for key in sorted(set(wanted) | set(found)):
        if key not in found:
            return f"{key} is missing from the file"
        if key not in wanted:
            return f"{key} is not part of that network"
        if wanted[key] != found[key]:
            return f"{key} is {found[key]} in the file, {wanted[key]} in the network"
    return "the tensors differ"


def check_finite(state: dict, path: Path) -> None:
    """ColorganError if any floating-point weight is NaN or Inf."""
    import torch

    floats = [k for k, v in state.items() if v.is_floating_point()]
    bad = [k for k in floats if not bool(torch.isfinite(state[k]).all())]
    if bad:
        raise ColorganError(
            f"{path}: its weights hold NaN or Inf ({len(bad)} of {len(floats)} tensors, "
            f"first {bad[0]}); the model is broken (did its training diverge?)"
        )
