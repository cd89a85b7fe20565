#!/usr/bin/env python3
"""A read-only FUSE passthrough that adds a fixed delay to every read: a slow disk
(or a network filesystem) for the aio benchmark, without root-only block devices.

    slowfs.py SOURCE_DIR MOUNTPOINT [--delay-ms 10]

Runs in the foreground until unmounted (`umount MOUNTPOINT`) or killed. The kernel
caches what it reads; evict a file's pages with POSIX_FADV_DONTNEED to make it
cold again.
"""

import argparse
import errno
import os
import threading
import time

from fuse import FUSE, FuseOSError, Operations


class SlowFS(Operations):
    def __init__(self, root, delay):
        self.root = root
        self.delay = delay
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

    def read(self, path, size, offset, fh):
        # One read at a time, each after the delay: a single slow spindle.
        with self.lock:
            time.sleep(self.delay)
            return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("mountpoint")
    ap.add_argument("--delay-ms", type=float, default=10.0)
    a = ap.parse_args()
    FUSE(SlowFS(os.path.abspath(a.source), a.delay_ms / 1000), a.mountpoint,
         foreground=True, ro=True, nothreads=False, allow_other=True, kernel_cache=True)


if __name__ == "__main__":
    main()
