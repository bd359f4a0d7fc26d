"""Python's multiprocessing.Pipe and Queue, measured the way bench/channels.mjs
measures shmkit (stdlib only). Prints JSON: round trip in us, 1 MiB
throughput in MiB/s.

    python3 bench/py_channels.py ROUNDTRIPS MIB_MESSAGES
"""
import json
import multiprocessing as mp
import sys
import time

SMALL = b"x" * 32
BIG = b"y" * (1 << 20)


def pipe_echo(conn):
    while True:
        m = conn.recv_bytes()
        if m == b"STOP":
            return
        conn.send_bytes(m)


def queue_echo(inbox, outbox):
    while True:
        m = inbox.get()
        if m == b"STOP":
            return
        outbox.put(m)


def pipe_sink(conn, count):
    for _ in range(count):
        conn.recv_bytes()
    conn.send_bytes(b"done")


def queue_sink(inbox, outbox, count):
    for _ in range(count):
        inbox.get()
    outbox.put(b"done")


def main(roundtrips, big):
    ctx = mp.get_context("fork")
    out = {}

    a, b = ctx.Pipe()
    p = ctx.Process(target=pipe_echo, args=(b,))
    p.start()
    for _ in range(2000):
        a.send_bytes(SMALL); a.recv_bytes()
    t0 = time.perf_counter()
    for _ in range(roundtrips):
        a.send_bytes(SMALL); a.recv_bytes()
    out["pipe_roundtrip_us"] = (time.perf_counter() - t0) / roundtrips * 1e6
    a.send_bytes(b"STOP"); p.join()

    inbox, outbox = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_echo, args=(inbox, outbox))
    p.start()
    for _ in range(2000):
        inbox.put(SMALL); outbox.get()
    t0 = time.perf_counter()
    for _ in range(roundtrips):
        inbox.put(SMALL); outbox.get()
    out["queue_roundtrip_us"] = (time.perf_counter() - t0) / roundtrips * 1e6
    inbox.put(b"STOP"); p.join()

    a, b = ctx.Pipe()
    p = ctx.Process(target=pipe_sink, args=(b, big))
    p.start()
    t0 = time.perf_counter()
    for _ in range(big):
        a.send_bytes(BIG)
    a.recv_bytes()
    out["pipe_mib_per_s"] = big / (time.perf_counter() - t0)
    p.join()

    inbox, outbox = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=queue_sink, args=(inbox, outbox, big))
    p.start()
    t0 = time.perf_counter()
    for _ in range(big):
        inbox.put(BIG)
    outbox.get()
    out["queue_mib_per_s"] = big / (time.perf_counter() - t0)
    p.join()
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
