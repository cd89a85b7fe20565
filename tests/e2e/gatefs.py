#!/usr/bin/env python3
"""A read-only FUSE passthrough whose file reads wait until a gate opens: a disk
that takes as long as the test wants. Used by the aio tests to show that a read
waiting on the disk holds up only its own response.

    gatefs.py SOURCE_DIR MOUNTPOINT

Reads block while SOURCE_DIR/.gate-closed exists, and a read that blocks first
creates SOURCE_DIR/.read-waiting (so the test knows the server is in the read);
metadata (stat, open, readdir) never blocks. Runs in the foreground until
unmounted or killed.
"""

import errno
import os
import sys
import time

from fuse import FUSE, FuseOSError, Operations

GATE = ".gate-closed"
WAITING = ".read-waiting"


class GateFS(Operations):
    def __init__(self, root):
        self.root = root

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
        deadline = time.monotonic() + 60
        if os.path.exists(os.path.join(self.root, GATE)):
            open(os.path.join(self.root, WAITING), "w").close()
        while os.path.exists(os.path.join(self.root, GATE)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)


if __name__ == "__main__":
    FUSE(GateFS(os.path.abspath(sys.argv[1])), sys.argv[2], foreground=True, ro=True,
         allow_other=True, kernel_cache=True)
