"""Python's side of the SharedMap benchmark (stdlib only).

    python3 bench/py_manager_dict.py KEYS

Starts multiprocessing.Manager() (its server process serves the dict on a
Unix socket, authenticated with the authkey, as every Manager does) and
fills a Manager().dict() with KEYS objects "obj:I" (the benchmark's ~100-byte
object) and KEYS short strings "str:I". This process is the client: it
answers commands read from stdin, one per line, with one line of JSON on
stdout:

    warm OP N    N untimed operations, answers []
    time OP N    N operations, each timed on its own with perf_counter_ns
                 around the proxy call; answers the N durations in ns
    quit         (or end of input) shuts the Manager down and exits

OP is get-object (d[key]), get-string (d[key]) or set-object (d[key] = obj),
each on a random key. The first line out is {"ready": ..., "server_pid": ...}.
"""
import json
import multiprocessing as mp
import random
import signal
import sys
import time


def make_object(i):
    return {
        "id": i,
        "user": f"ada{i}",
        "roles": ["reader", "editor"],
        "active": True,
        "score": 87.5,
        "meta": {"region": "eu-west", "tier": "gold"},
    }


def main():
    keys = int(sys.argv[1])
    # SIGTERM from the benchmark: leave through the `with` so the Manager's
    # server process is shut down too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rng = random.Random(42)
    objects = [make_object(i) for i in range(100)]
    with mp.Manager() as manager:
        d = manager.dict()
        d.update({f"obj:{i}": make_object(i) for i in range(keys)})
        d.update({f"str:{i}": f"session-{i}-ok" for i in range(keys)})
        ready = {"ready": True, "server_pid": manager._process.pid, "python": sys.version.split()[0]}
        print(json.dumps(ready), flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            mode, op, n = words[0], words[1], int(words[2])
            prefix = "str:" if op == "get-string" else "obj:"
            names = [prefix + str(rng.randrange(keys)) for _ in range(n)]
            out = []
            clock = time.perf_counter_ns
            if op == "set-object":
                for j, key in enumerate(names):
                    value = objects[j % 100]
                    t0 = clock()
                    d[key] = value
                    out.append(clock() - t0)
            else:
                for key in names:
                    t0 = clock()
                    d[key]
                    out.append(clock() - t0)
            print(json.dumps(out if mode == "time" else []), flush=True)


if __name__ == "__main__":
    main()
