#!/usr/bin/env python3
"""Reference for the CGI test: how many times per second this machine can start a
program and wait for it, keeping --parallel children running at once (like a server
with that many CGI requests in flight), for --seconds (or --max spawns).

Uses posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) + exec, as Rust's
std::process::Command does when it can), stdout to /dev/null, then waitpid.
Prints one line: spawns=N seconds=S per_s=R
"""

import argparse
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--max", type=int, default=1_000_000)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("argv", nargs="+", help="program and arguments, e.g. /bin/sh -c true")
    args = p.parse_args()

    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET"}
    def spawn():
        return os.posix_spawn(args.argv[0], args.argv, env, file_actions=actions)

    n = 0
    start = time.monotonic()
    end = start + args.seconds
    running = {spawn() for _ in range(max(1, args.parallel))}
    while running:
        pid, status = os.wait()
        running.discard(pid)
        if status != 0:
            print(f"spawn_rate: {args.argv} exited with status {status}", file=sys.stderr)
            return 1
        n += 1
        if n + len(running) < args.max and time.monotonic() < end:
            running.add(spawn())
    secs = time.monotonic() - start
    print(f"spawns={n} seconds={secs:.3f} per_s={n / secs:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
