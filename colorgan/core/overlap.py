"""Stages of a batch or a stream overlapped on threads, results in order.

overlapped: three stages per item: while the network works on one photo, the next is read
and decoded and the previous composed, encoded and written. Decoding, encoding, numpy and
ONNX Runtime release the GIL, so the stages run at once.

    for item, error in overlapped(jobs, read, work, write, errors=(ColorganError, OSError)):
        ...  # in the jobs' order; error is None when all three stages succeeded

read(item) runs on a reader thread, work(item, read_result) on the calling thread,
write(item, work_result) on a writer thread. At most `depth` items are read ahead and at
most `depth` wait to be written, so memory stays bounded (a few photos in flight). An
exception of a type in `errors` is that item's error and the others go on; any other
exception (a bug, KeyboardInterrupt) propagates, after the queued work is cancelled.

prefetched: a stream (a video's decoded frames) produced on a background thread ahead of
the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager


def overlapped(
    items: Iterable,
    read: Callable,
    work: Callable,
    write: Callable,
    errors: tuple[type[BaseException], ...] = (),
    depth: int = 2,
) -> Iterator[tuple[object, BaseException | None]]:
    """(item, error or None) for every item, in order, each once its write has finished."""
    source = iter(items)
    reader = ThreadPoolExecutor(1, thread_name_prefix="colorgan-read")
    writer = ThreadPoolExecutor(1, thread_name_prefix="colorgan-write")
    reads: deque[tuple[object, Future]] = deque()
    writes: deque[tuple[object, Future | BaseException]] = deque()

    def read_ahead() -> None:
        while len(reads) < depth:
            item = next(source, _END)
            if item is _END:
                return
            reads.append((item, reader.submit(read, item)))

    try:
        read_ahead()
        while reads:
            item, pending = reads.popleft()
            read_ahead()
            try:
                result = work(item, pending.result())
                writes.append((item, writer.submit(write, item, result)))
            except errors as exc:
                writes.append((item, exc))
            while writes and (len(writes) > depth or _settled(writes[0][1])):
                yield _retire(*writes.popleft(), errors)
        while writes:
            yield _retire(*writes.popleft(), errors)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        writer.shutdown(wait=True, cancel_futures=True)


_END = object()


def _settled(outcome) -> bool:
    return not isinstance(outcome, Future) or outcome.done()


def _retire(item, outcome, errors) -> tuple[object, BaseException | None]:
    if not isinstance(outcome, Future):
        return item, outcome
    try:
        outcome.result()
    except errors as exc:
        return item, exc
    return item, None


@contextmanager
def prefetched(iterable: Iterable, depth: int = 2):
    """with prefetched(items) as it: the items, produced by a background thread up to
    `depth` ahead of the consumer (a decoder's next frames while this thread works on the
    last ones). Iterated on that thread only; its exception is re-raised here, with its own
    type, where the item would have come; leaving the block early stops the thread."""
    handoff: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in iterable:
                if not put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            put((_END, exc))
            return
        put((_END, None))

    def consume():
        while True:
            item, exc = handoff.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item

    thread = threading.Thread(target=produce, name="colorgan-prefetch", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
