#!/usr/bin/env python3
"""Parsing and reporting for scripts/bench.sh.

bench.sh does the orchestration (servers, load generators, rounds); everything that
reads tool output or does arithmetic lives here, so the shell stays readable.

Sub-commands:
  wrk OUT --raw RAW --test T --role R --round N [--cpu-ticks T --clk-tck HZ]
      parse one `wrk --latency` output and append its metrics to RAW
  dd OUT --raw RAW --test T --role R --round N
      parse one `dd` output (bytes, seconds) and append MiB/s to RAW
  add --raw RAW --test T --role R --round N --metric M --value V
      append one measured value to RAW
  copy --raw RAW --src T1 --test T2 --role R --round N [--to-role R2]
      append T1's values of that role and round (but its errors; only --metric M if
      given) again under test T2, for rows that share one measurement (webserv
      against two references)
  report --raw RAW --meta META --md OUT.md [--md OUT2.md ...] [--png OUT.png]
      median over rounds per (test, metric, role); print the table, write Markdown
      and a bar chart of the ratios webserv/reference

RAW is a TSV file: test, metric, role (A = webserv, B = reference), round, value.
"""

import argparse
import math
import re
import statistics
import sys

# Metric name -> True when higher is better. The arrow in the table comes from here.
METRICS = {
    "req/s": True,
    "p50 ms": False,
    "p99 ms": False,
    "CPU µs/req": False,
    "MiB/s": True,
    "KiB/conn": False,
    "connect s": False,
    "RSS before KiB": False,
    "RSS held KiB": False,
    "RSS after KiB": False,
    "peak RSS MiB": False,
    "RSS growth MiB": False,
    "spawns or req/s": True,
    "downloads MiB/s": True,
    "body bytes": False,
    "upstream conns": False,
    "errors": False,
}
# Recorded in RAW, summarised under the table rather than shown as rows.
HIDDEN = {"server CPU %"}

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_duration_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"bad wrk duration {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_size(text):
    m = re.fullmatch(r"([\d.]+)([KMGT]?B)", text)
    if not m:
        raise ValueError(f"bad wrk size {text!r}")
    return float(m.group(1)) * SIZES[m.group(2)]


def parse_wrk(text):
    """Returns a dict of what one `wrk --latency` run reports."""
    out = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+\w+), (\S+) read", text, re.M)
    if not m:
        raise ValueError("no 'N requests in' line in wrk output")
    out["requests"] = int(m.group(1))
    out["seconds"] = parse_duration_ms(m.group(2)) / 1e3
    out["bytes"] = parse_size(m.group(3))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    out["rps"] = float(m.group(1)) if m else out["requests"] / out["seconds"]
    m = re.search(r"^Transfer/sec:\s+(\S+)", text, re.M)
    out["bytes_per_s"] = parse_size(m.group(1)) if m else out["bytes"] / out["seconds"]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        if m:
            out[f"p{pct}_ms"] = parse_duration_ms(m.group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    out["errors"] = errors
    return out


def append(raw, test, metric, role, rnd, value):
    with open(raw, "a", encoding="utf-8") as f:
        f.write(f"{test}\t{metric}\t{role}\t{rnd}\t{value:.6g}\n")


def cmd_wrk(args):
    with open(args.out, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        w = parse_wrk(text)
    except ValueError as e:
        print(f"report.py: {args.out}: {e}", file=sys.stderr)
        append(args.raw, args.test, "errors", args.role, args.round, 1)
        return 0
    want = args.metrics.split(",")
    if "rps" in want:
        append(args.raw, args.test, "req/s", args.role, args.round, w["rps"])
    if "lat" in want:
        for pct in ("50", "99"):
            if f"p{pct}_ms" in w:
                append(args.raw, args.test, f"p{pct} ms", args.role, args.round, w[f"p{pct}_ms"])
    if "mib" in want:
        append(args.raw, args.test, "MiB/s", args.role, args.round, w["bytes_per_s"] / 2**20)
    if "cpu" in want and args.cpu_ticks is not None and w["requests"] > 0:
        us = args.cpu_ticks * 1e6 / args.clk_tck / w["requests"]
        append(args.raw, args.test, "CPU µs/req", args.role, args.round, us)
    append(args.raw, args.test, "errors", args.role, args.round, w["errors"])
    busy = ""
    if args.cpu_ticks is not None and w["seconds"] > 0:
        pct = args.cpu_ticks / args.clk_tck / w["seconds"] * 100
        append(args.raw, args.test, "server CPU %", args.role, args.round, pct)
        busy = f", server CPU {pct:.0f}% of a core"
    print(
        f"    {args.role} round {args.round}: {w['rps']:.0f} req/s, "
        f"{w['bytes_per_s'] / 2**20:.1f} MiB/s, p50 {w.get('p50_ms', float('nan')):.3f} ms, "
        f"p99 {w.get('p99_ms', float('nan')):.3f} ms, errors {w['errors']}{busy}"
    )
    return 0


def cmd_dd(args):
    with open(args.out, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", text, re.M)
    if not m or float(m.group(2)) <= 0:
        print(f"report.py: {args.out}: no dd summary line", file=sys.stderr)
        append(args.raw, args.test, "errors", args.role, args.round, 1)
        return 0
    mib_s = int(m.group(1)) / float(m.group(2)) / 2**20
    append(args.raw, args.test, "MiB/s", args.role, args.round, mib_s)
    print(f"    {args.role} round {args.round}: dd {mib_s:.0f} MiB/s")
    return 0


def cmd_add(args):
    append(args.raw, args.test, args.metric, args.role, args.round, float(args.value))
    return 0


def cmd_copy(args):
    rows = []
    with open(args.raw, encoding="utf-8") as f:
        for line in f:
            test, metric, role, rnd, value = line.rstrip("\n").split("\t")
            if (test, role, rnd) != (args.src, args.role, str(args.round)) or metric == "errors":
                continue
            if args.metric is None or metric == args.metric:
                rows.append((metric, float(value)))
    for metric, value in rows:
        append(args.raw, args.test, metric, args.to_role or args.role, args.round, value)
    return 0


def load(raw):
    """{(test, metric): {role: [values]}} in first-seen order."""
    rows = {}
    with open(raw, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            test, metric, role, _rnd, value = parts
            rows.setdefault((test, metric), {}).setdefault(role, []).append(float(value))
    return rows


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def build_table(rows):
    """Table rows: (test, metric label, A, B, ratio, higher_is_better)."""
    table = []
    errors = []
    for (test, metric), by_role in rows.items():
        if metric in HIDDEN:
            continue
        a = statistics.median(by_role["A"]) if "A" in by_role else None
        b = statistics.median(by_role["B"]) if "B" in by_role else None
        if metric == "errors":
            tot_a, tot_b = sum(by_role.get("A", [])), sum(by_role.get("B", []))
            if tot_a or tot_b:
                errors.append((test, tot_a, tot_b))
            continue
        hib = METRICS.get(metric, True)
        label = metric + (" ↑" if hib else " ↓")
        ratio = a / b if a is not None and b not in (None, 0) else None
        table.append((test, label, a, b, ratio, hib))
    return table, errors


def render_text(table):
    head = ("test", "metric", "webserv", "nginx (or reference)", "ratio webserv/ref")
    cells = [head] + [
        (t, m, fmt(a), fmt(b), "–" if r is None else f"{r:.2f}") for t, m, a, b, r, _ in table
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = []
    for n, c in enumerate(cells):
        lines.append(" | ".join(s.ljust(w) for s, w in zip(c, widths)))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def busy_summary(rows):
    """One sentence: how busy the servers were during the wrk runs (median, range)."""
    vals = {"A": [], "B": []}
    for (_test, metric), by_role in rows.items():
        if metric == "server CPU %":
            for role in vals:
                vals[role] += by_role.get(role, [])
    if not vals["A"] and not vals["B"]:
        return ""
    parts = []
    for role, name in (("A", "webserv"), ("B", "reference")):
        v = vals[role]
        if v:
            parts.append(f"{name} median {statistics.median(v):.0f}% (range {min(v):.0f}–{max(v):.0f}%)")
    return (
        "Server CPU use during the wrk runs, in % of one core: "
        + ", ".join(parts)
        + ". Well below 100% means the server was not the bottleneck on its core: the "
        "load generator or other work on the machine limited the run, and req/s says "
        "less than CPU µs/req."
    )


def render_md(table, errors, meta, busy=""):
    out = [meta.rstrip(), ""]
    out.append("| test | metric | webserv | nginx (or reference) | ratio webserv/ref |")
    out.append("|---|---|---:|---:|---:|")
    for t, m, a, b, r, _ in table:
        out.append(f"| {t} | {m} | {fmt(a)} | {fmt(b)} | {'–' if r is None else f'{r:.2f}'} |")
    out.append("")
    out.append("↑ higher is better, ↓ lower is better; every value is the median over the rounds.")
    if busy:
        out.append("")
        out.append(busy)
    if errors:
        out.append("")
        out.append("Errors reported by the load generator (socket errors + non-2xx/3xx "
                   "responses, summed over rounds):")
        out.append("")
        for t, ea, eb in errors:
            out.append(f"- {t}: webserv {ea:.0f}, reference {eb:.0f}")
    else:
        out.append("")
        out.append("No socket errors or non-2xx/3xx responses in any run.")
    return "\n".join(out) + "\n"


def render_png(table, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib missing, no chart", file=sys.stderr)
        return
    items = [(f"{t} — {m}", r, hib) for t, m, _a, _b, r, hib in table if r]
    if not items:
        return
    labels = [i[0] for i in items][::-1]
    ratios = [i[1] for i in items][::-1]
    good = [(r >= 1) == hib for _l, r, hib in items][::-1]
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(items) + 1.5))
    ax.barh(labels, ratios, color=["#3a9d5d" if g else "#c8553d" for g in good])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("ratio webserv / reference (log scale; green = webserv better, red = worse)")
    ax.set_title("webserv vs nginx (or reference), median over rounds")
    for y, r in enumerate(ratios):
        ax.text(r, y, f" {r:.2f}", va="center", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_report(args):
    rows = load(args.raw)
    table, errors = build_table(rows)
    with open(args.meta, encoding="utf-8") as f:
        meta = f.read()
    print(render_text(table))
    if errors:
        print("errors (webserv, reference): " + "; ".join(f"{t}: {a:.0f}, {b:.0f}" for t, a, b in errors))
    busy = busy_summary(rows)
    if busy:
        print(busy)
    md = render_md(table, errors, meta, busy)
    for path in args.md:
        with open(path, "w", encoding="utf-8") as f:
            f.write(md)
    if args.png:
        render_png(table, args.png)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("out")
        sp.add_argument("--raw", required=True)
        sp.add_argument("--test", required=True)
        sp.add_argument("--role", required=True, choices=["A", "B"])
        sp.add_argument("--round", required=True, type=int)

    sp = sub.add_parser("wrk")
    common(sp)
    sp.add_argument("--metrics", default="rps,lat,cpu", help="rps,lat,cpu,mib")
    sp.add_argument("--cpu-ticks", type=int)
    sp.add_argument("--clk-tck", type=int, default=100)
    sp.set_defaults(func=cmd_wrk)

    sp = sub.add_parser("dd")
    common(sp)
    sp.set_defaults(func=cmd_dd)

    sp = sub.add_parser("add")
    sp.add_argument("--raw", required=True)
    sp.add_argument("--test", required=True)
    sp.add_argument("--role", required=True, choices=["A", "B"])
    sp.add_argument("--round", required=True, type=int)
    sp.add_argument("--metric", required=True)
    sp.add_argument("--value", required=True)
    sp.set_defaults(func=cmd_add)

    sp = sub.add_parser("copy")
    sp.add_argument("--raw", required=True)
    sp.add_argument("--src", required=True)
    sp.add_argument("--test", required=True)
    sp.add_argument("--role", required=True, choices=["A", "B"])
    sp.add_argument("--round", required=True, type=int)
    sp.add_argument("--metric")
    sp.add_argument("--to-role", choices=["A", "B"], help="role in --test (default: --role)")
    sp.set_defaults(func=cmd_copy)

    sp = sub.add_parser("report")
    sp.add_argument("--raw", required=True)
    sp.add_argument("--meta", required=True)
    sp.add_argument("--md", action="append", default=[])
    sp.add_argument("--png")
    sp.set_defaults(func=cmd_report)

    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
