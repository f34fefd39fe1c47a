"""Ctrl-C between calls into native code, never inside one.

Python runs a SIGINT handler only between bytecodes; when native code (ONNX Runtime
creating a session, torch importing its libraries, an ONNX export) calls back into Python
halfway, KeyboardInterrupt lands in the middle of it, where the library may turn it into
its own error (a healthy cached model was blamed as "not a readable ONNX model"), leave
half-initialised state behind (exit-time log lines, a segmentation fault at shutdown), or
both. Inside `deferred_interrupts()` a first Ctrl-C is only noted; it is delivered (to
whatever handler was installed: KeyboardInterrupt, or uvicorn's graceful stop) when the
block ends. A second Ctrl-C stops the process at once, as SIGINT does by default: every
file colorgan writes is written atomically (colorgan.io.atomic), so nothing is corrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading


@contextlib.contextmanager
def deferred_interrupts():
    """Hold SIGINT for the duration of the block (main thread only; elsewhere Python never
    delivers signals anyway). Nested blocks defer to the outermost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # installed by C code, not Python: leave it alone
        yield
        return
    if getattr(previous, "_colorgan_deferring", False):  # an outer block holds it
        yield
        return
    noted: list[int] = []

    def note(signum, frame) -> None:
        if noted:  # the second Ctrl-C: stop now, the way SIGINT does by default
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        noted.append(signum)

    note._colorgan_deferring = True
    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if noted:
            signal.raise_signal(signal.SIGINT)  # to the handler that was there before
