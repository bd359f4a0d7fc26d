# A flood of datagrams at shmkit doorbells, as any local user could send:
# the sockets are found in /proc/net/unix (world-readable). Node has no Unix
# datagram sockets, hence Python.
#   python3 doorbell_flood.py SECONDS [ID...]
# IDs (8 hex digits, from doorbellId()) pick doorbells; none: every one
# listed, rescanned each 0.5 s. Prints JSON: targets, delivered (datagrams
# the kernel queued), refused (sends it turned down), errors by name.
import errno
import json
import socket
import sys
import time


def doorbells(ids):
    found = set()
    with open('/proc/net/unix') as table:
        next(table)
        for line in table:
            fields = line.split()
            if len(fields) < 8 or 'shmkit-bell-' not in fields[7]:
                continue
            path = fields[7]
            if ids and not any(path.endswith('shmkit-bell-' + i) for i in ids):
                continue
            found.add('\0' + path[1:] if path.startswith('@') else path)
    return sorted(found)


def main():
    seconds = float(sys.argv[1])
    ids = sys.argv[2:]
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.setblocking(False)
    delivered = refused = 0
    errors = {}
    seen = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        targets = doorbells(ids)
        seen.update(targets)
        rescan = time.monotonic() + 0.5
        while targets and time.monotonic() < min(rescan, end):
            for _ in range(200):
                for target in targets:
                    try:
                        sender.sendto(b'x', target)
                        delivered += 1
                    except OSError as err:
                        refused += 1
                        name = errno.errorcode.get(err.errno, str(err.errno))
                        errors[name] = errors.get(name, 0) + 1
        if not targets:
            time.sleep(0.01)
    print(json.dumps({'targets': len(seen), 'delivered': delivered, 'refused': refused, 'errors': errors}))


main()
