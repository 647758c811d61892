#!/usr/bin/python3
"""Where a training step's time goes: self time per operation from a Chrome trace.

qretrain_speed --trace FILE writes LibTorch's profiler trace of one timed fit
(the ops of ATen, the autograd backward nodes, and qretrain's own phases, named
qretrain::*). Nested events are charged to the innermost one (self time), per
thread, and the table lists the largest shares of the main thread's wall time.

  profile_summary.py TRACE.json [--top 25]
"""
import argparse
import json
from collections import defaultdict


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with open(args.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    spans = defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            spans[e.get("tid")].append((float(e["ts"]), float(e["dur"]), e["name"]))
    self_time = defaultdict(float)
    calls = defaultdict(int)
    busy = {}
    for tid, evs in spans.items():
        evs.sort(key=lambda t: (t[0], -t[1]))
        stack = []  # [end, name, child time]
        covered = 0.0

        def close(item):
            end, name, start, child = item
            self_time[name] += (end - start) - child
            if stack:
                stack[-1][3] += end - start

        for ts, dur, name in evs:
            while stack and stack[-1][0] <= ts:
                close(stack.pop())
            if not stack:
                covered += dur
            calls[name] += 1
            stack.append([ts + dur, name, ts, 0.0])
        while stack:
            close(stack.pop())
        busy[tid] = covered
    first = min(t[0] for evs in spans.values() for t in evs)
    last = max(t[0] + t[1] for evs in spans.values() for t in evs)
    wall = last - first
    total = sum(self_time.values())
    print(f"trace: {wall / 1e3:.1f} ms of wall time, {total / 1e3:.1f} ms inside recorded ops on "
          f"{len(spans)} thread(s); {100 * (1 - max(busy.values()) / wall):.1f}% of the busiest thread outside any op")
    print("| op (self time) | ms | % of wall | calls |")
    print("|---|---:|---:|---:|")
    for name, t in sorted(self_time.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {name} | {t / 1e3:.1f} | {100 * t / wall:.1f} | {calls[name]} |")


if __name__ == "__main__":
    main()
