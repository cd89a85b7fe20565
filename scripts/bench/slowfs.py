#!/usr/bin/env python3
"""A read-only FUSE passthrough whose reads are slow on purpose: a slow disk (or a
network filesystem) without root-only block devices. Used by the benchmark's aio
test (a fixed delay per read) and by the e2e aio tests (reads that wait for a gate).

    slowfs.py SOURCE_DIR MOUNTPOINT [--delay-ms MS] [--gate FILE]

--delay-ms MS  every read waits MS milliseconds, one read at a time (a single spindle)
--gate FILE    while FILE exists, reads wait (up to 60 s); the first read that waits
               creates FILE.waiting, so a test knows a reader is inside the "disk"

Metadata (stat, open, readdir) is never slowed. Runs in the foreground until
unmounted (`umount MOUNTPOINT`) or killed. The kernel caches what it reads; evict a
file's pages with POSIX_FADV_DONTNEED to make it cold again.
"""

import argparse
import errno
import os
import threading
import time

from fuse import FUSE, FuseOSError, Operations

GATE_TIMEOUT = 60


class SlowFS(Operations):
    def __init__(self, root, delay, gate):
        self.root = root
        self.delay = delay
        self.gate = gate
        self.lock = threading.Lock()

    def _full(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._full(path))
        except OSError as e:
            raise FuseOSError(e.errno) from e
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._full(path))

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        return os.open(self._full(path), os.O_RDONLY)

    def _wait_for_gate(self):
        if not self.gate or not os.path.exists(self.gate):
            return
        open(self.gate + ".waiting", "w").close()
        deadline = time.monotonic() + GATE_TIMEOUT
        while os.path.exists(self.gate) and time.monotonic() < deadline:
            time.sleep(0.01)

    def read(self, path, size, offset, fh):
        self._wait_for_gate()
        if self.delay:
            with self.lock:
                time.sleep(self.delay)
                return os.pread(fh, size, offset)
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("mountpoint")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--gate", help="reads wait while this file exists")
    a = ap.parse_args()
    fs = SlowFS(os.path.abspath(a.source), a.delay_ms / 1000,
                os.path.abspath(a.gate) if a.gate else None)
    FUSE(fs, a.mountpoint, foreground=True, ro=True, allow_other=True, kernel_cache=True)


if __name__ == "__main__":
    main()
