"""Python's side of the contended-increment benchmark (stdlib only).

    python3 bench/py_contended.py N

Two processes each do N times `with v.get_lock(): v.value += 1` on a
multiprocessing.Value('q'); prints the slower one's nanoseconds and the total.
"""
import multiprocessing as mp
import sys
import time


def work(value, barrier, n, out):
    barrier.wait()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        with value.get_lock():
            value.value += 1
    out.put(time.perf_counter_ns() - t0)


if __name__ == "__main__":
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    value = ctx.Value("q", 0)
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    procs = [ctx.Process(target=work, args=(value, barrier, n, out)) for _ in range(2)]
    for p in procs:
        p.start()
    times = [out.get() for _ in procs]
    for p in procs:
        p.join()
    print(max(times), value.value)
