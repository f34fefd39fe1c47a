"""How colorgan runs ONNX Runtime: telemetry off, memory given back after big runs, and
sessions created without Ctrl-C landing inside them.

Telemetry: ONNX Runtime 1.2x on Linux writes a device id and an event database under
~/.cache/Microsoft/DeveloperTools/.onnxruntime and a `.ses` file in $TMPDIR as soon as it
is imported (its 1DS telemetry, uploaded where a network allows), which breaks the promise
that nothing leaves this computer. ORT_DISABLE_TELEMETRY=1 set before the import switches
all of it off (nothing is created); disable_telemetry_events() after it covers a process
where onnxruntime was imported first by someone else. A user who sets
ORT_DISABLE_TELEMETRY themselves keeps their choice.

Memory: ONNX Runtime's CPU arena keeps its high-water mark for the life of the session
(one size=2048 request left the server ~1 GB bigger for good). After a run over LARGE_RUN
input elements (see run) the arena is shrunk; smaller runs (video frames, the default
working sizes) keep it, as reallocating would cost them time. Switching the arena off
instead gives everything back but made every run 1.5-3.5x slower (fresh pages each time).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from colorgan.core import extras
from colorgan.core.interrupts import deferred_interrupts

LARGE_RUN = 1 << 20  # input elements (B x H x W) above which the arena is shrunk after a run


def import_onnxruntime():
    """onnxruntime, imported with its telemetry off; ColorganError if it is not installed."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        with deferred_interrupts():
            import onnxruntime
    except ModuleNotFoundError as exc:
        raise extras.missing(exc.name, "ONNX Runtime") from None
    onnxruntime.disable_telemetry_events()
    return onnxruntime


def new_session(model: bytes, options, providers=("CPUExecutionProvider",)):
    """An InferenceSession, created with Ctrl-C held until it exists (then delivered)."""
    ort = import_onnxruntime()
    with deferred_interrupts():
        return ort.InferenceSession(model, options, providers=list(providers))


def run(session, output: str, feed: dict, small: dict):
    """session.run for one output. After a large run the arena is shrunk: the output is
    copied out first, because ORT's numpy output still lives in the arena when the run
    ends and its region (824 MB at size=2048 on the bundled model) would stay; then a run
    on `small` (the same inputs, tiny) ends with the shrink, with nothing left in use."""
    if sum(x.size for x in feed.values()) <= LARGE_RUN:
        return session.run([output], feed)[0]
    shared = session.run([output], feed)[0]
    out = np.array(shared)  # our own memory (glibc gives it back to the system when freed)
    del shared
    session.run([output], small, _shrink_options())
    return out


@functools.cache
def _shrink_options():
    options = import_onnxruntime().RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options
