"""colorgan.core.overlap: stages at once, results in order, errors per item, bounded."""

import random
import threading
import time

import pytest

from colorgan.core.overlap import overlapped


def test_results_in_order_whatever_the_stage_times():
    rng = random.Random(0)
    delays = {i: [rng.uniform(0, 0.004) for _ in range(3)] for i in range(30)}
    written = []

    def read(i):
        time.sleep(delays[i][0])
        return i * 10

    def work(i, r):
        time.sleep(delays[i][1])
        return r + 1

    def write(i, w):
        time.sleep(delays[i][2])
        written.append((i, w))

    out = list(overlapped(range(30), read, work, write))
    assert out == [(i, None) for i in range(30)]
    assert written == [(i, i * 10 + 1) for i in range(30)]  # one writer thread: FIFO


def test_the_three_stages_run_at_the_same_time():
    """Item 0's write waits until item 1 is in the network and item 2 is being read: with
    the stages one after another this could never happen (the waits would time out)."""
    working_on_1, reading_2 = threading.Event(), threading.Event()

    def read(i):
        if i == 2:
            reading_2.set()
        return i

    def work(i, r):
        if i == 1:
            working_on_1.set()
            assert reading_2.wait(5)
        return r

    def write(i, w):
        if i == 0:
            assert working_on_1.wait(5) and reading_2.wait(5)

    assert [e for _, e in overlapped(range(4), read, work, write, errors=(AssertionError,))] == [
        None
    ] * 4


def test_an_error_is_its_items_and_the_others_go_on():
    def read(i):
        if i == 1:
            raise ValueError("unreadable")
        return i

    def work(i, r):
        if i == 3:
            raise OSError("no memory for it")
        return r

    def write(i, w):
        if i == 5:
            raise ValueError("disk full")

    out = list(overlapped(range(7), read, work, write, errors=(ValueError, OSError)))
    assert [i for i, _ in out] == list(range(7))
    assert {i: str(e) for i, e in out if e} == {
        1: "unreadable",
        3: "no memory for it",
        5: "disk full",
    }


def test_other_exceptions_propagate_and_stop_the_batch():
    written = []

    def work(i, r):
        if i == 2:
            raise KeyError("a bug")
        return r

    with pytest.raises(KeyError):
        for _ in overlapped(range(50), lambda i: i, work, lambda i, w: written.append(i)):
            pass
    assert max(written) < 2 + 2  # nothing far past the failure was written


def test_bounded_read_ahead():
    """Reads never run more than depth ahead of the work, writes never pile up past depth:
    at most depth read + 1 in the network + depth waiting to be written."""
    reads, finished = [], []

    def read(i):
        reads.append(i)
        assert len(reads) - len(finished) <= 2 + 1 + 2
        return i

    def work(i, r):
        time.sleep(0.002)  # slow work: what would let an unbounded reader race ahead
        return r

    for i, error in overlapped(range(40), read, work, lambda i, w: None, depth=2):
        assert error is None
        finished.append(i)
    assert finished == list(range(40))


def test_prefetched_yields_in_order_and_reraises_with_its_type():
    from colorgan.core.overlap import prefetched

    def produce():
        yield from range(5)
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"), prefetched(produce()) as items:
        for item in items:
            got.append(item)
    assert got == list(range(5))


def test_prefetched_runs_ahead_on_its_own_thread_and_stops_early():
    from colorgan.core.overlap import prefetched

    threads, made = set(), []

    def produce():
        for i in range(1000):
            threads.add(threading.current_thread().name)
            made.append(i)
            yield i

    with prefetched(produce(), depth=2) as items:
        assert next(items) == 0
    assert threads == {"colorgan-prefetch"}
    assert len(made) <= 1 + 2 + 1  # taken, queued, one waiting to be queued: then stopped
