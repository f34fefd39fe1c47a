"""Registry of generators by name (the timm pattern: register, build, list).

Every architecture module registers its builders with `@register_generator("name")`.
A builder takes explicit keyword arguments (at least in_channels, out_channels, width)
and returns a plain nn.Module whose forward maps (B, in, H, W) in [-1, 1] to
(B, out, H, W) in [-1, 1]. The module carries `size_multiple`: H and W must be
multiples of it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from colorgan.core.config import ConfigError

_GENERATORS: dict[str, Callable[..., nn.Module]] = {}


def register_generator(name: str) -> Callable:
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _GENERATORS:
            raise ValueError(f"generator {name!r} registered twice")
        _GENERATORS[name] = fn
        return fn

    return wrap


def list_generators() -> list[str]:
    return sorted(_GENERATORS)


def generator_arguments(name: str) -> list[str]:
    """Names of the keyword arguments a generator's builder accepts."""
    return list(inspect.signature(_get(name)).parameters)


def _get(name: str) -> Callable[..., nn.Module]:
    if name not in _GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; valid: {', '.join(list_generators())}")
    return _GENERATORS[name]


def build_generator(name: str, **kwargs) -> nn.Module:
    builder = _get(name)
    params = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ConfigError(
            f"generator {name!r} does not take {', '.join(unknown)}; it takes: {', '.join(params)}"
        )
    return builder(**kwargs)
