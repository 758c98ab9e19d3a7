#!/usr/bin/env python3
"""Runs the fleet example under both selection policies on the same seeds and prints
the means over the seeds, as a Markdown table (issue 15).

Build first:  cargo build --release -p scheduler-examples --example fleet
Then:         examples/scripts/policy_compare.py [--bin PATH] [--seeds 1-10] [-- FLEET FLAGS...]
e.g.          examples/scripts/policy_compare.py -- --agent-kinds specialised

Each run is `fleet --backend memory -q --seed S --policy P FLAGS...`; a run whose
invariants are broken (non-zero exit) stops the script.
"""
import argparse
import re
import statistics
import subprocess
import sys


def seconds(text):
    """'1h02m', '4m04s', '11.9s' -> seconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?", text)
    h, mi, s = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def field(out, pattern):
    m = re.search(pattern, out, re.M)
    if not m:
        sys.exit(f"no {pattern!r} in the fleet's output:\n{out}")
    return m


def run(binary, seed, policy, flags):
    cmd = [binary, "--backend", "memory", "-q", "--seed", str(seed), "--policy", policy, *flags]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    out = done.stdout
    cycles = int(field(out, r"^\s+cycles\s+(\d+)").group(1))
    woken = int(field(out, r"wake attempts\s+\d+\s+(\d+) succeeded").group(1))
    attention = field(out, r"needs-attention\s+(\d+)\s+(\d+) uncoverable \(of \d+\), (\d+) coverable")
    return {
        "woken per cycle": woken / cycles,
        "wakes sent": int(field(out, r"wakes sent\s+(\d+)").group(1)),
        "wakes claimed": int(field(out, r"wakes claimed\s+(\d+)").group(1)),
        "of which another run": int(field(out, r"wakes claimed\s+\d+\s+.*; (\d+) took another run").group(1)),
        "claims found nothing": int(field(out, r"claims won\s+\d+\s+(\d+) found nothing").group(1)),
        "ttc median s": seconds(field(out, r"time to claim, median\s+(\S+)").group(1)),
        "ttc p99 s": seconds(field(out, r"time to claim, p99\s+(\S+)").group(1)),
        "needs-attention": int(attention.group(1)),
        "uncoverable": int(attention.group(2)),
        "coverable": int(attention.group(3)),
        "spawns": int(field(out, r"^\s+spawns\s+(\d+)").group(1)),
    }


def seed_range(text):
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/examples/fleet")
    parser.add_argument("--seeds", default="1-10", type=seed_range)
    parser.add_argument("flags", nargs="*", help="more fleet flags, after --")
    args = parser.parse_args()
    rows = {p: [run(args.bin, s, p, args.flags) for s in args.seeds] for p in ("greedy", "maximum")}
    keys = list(rows["greedy"][0])
    flags = " ".join(args.flags)
    print(f"fleet --backend memory -q --seed S --policy P {flags}; seeds {args.seeds[0]}..={args.seeds[-1]}; "
          "mean (min-max) over the seeds")
    print("| policy | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for policy, runs in rows.items():
        cells = []
        for k in keys:
            values = [r[k] for r in runs]
            digits = 3 if k == "woken per cycle" else 1
            cells.append(f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})")
        print(f"| {policy} | " + " | ".join(cells) + " |")
    better = sum(g["coverable"] > m["coverable"] for g, m in zip(rows["greedy"], rows["maximum"]))
    worse = sum(g["coverable"] < m["coverable"] for g, m in zip(rows["greedy"], rows["maximum"]))
    print(f"coverable needs-attention per seed: maximum fewer on {better}, more on {worse}, "
          f"equal on {len(args.seeds) - better - worse} of {len(args.seeds)} seeds")


if __name__ == "__main__":
    main()
