"""Three stages of a batch overlapped on threads, results in order: while the network works
on one photo, the next is read and decoded and the previous composed, encoded and written.
Decoding, encoding, numpy and ONNX Runtime release the GIL, so the stages run at once.

    for item, error in overlapped(jobs, read, work, write, errors=(ColorganError, OSError)):
        ...  # in the jobs' order; error is None when all three stages succeeded

read(item) runs on a reader thread, work(item, read_result) on the calling thread,
write(item, work_result) on a writer thread. At most `depth` items are read ahead and at
most `depth` wait to be written, so memory stays bounded (a few photos in flight). An
exception of a type in `errors` is that item's error and the others go on; any other
exception (a bug, KeyboardInterrupt) propagates, after the queued work is cancelled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor


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
