#!/usr/bin/python3
"""Summarises the JSON lines of scripts/bench-vs-pytorch.sh into one table.

Each process prints a few timed repetitions; a process's figure is their
median. Each round runs every process once, alternating which side goes
first, so a ratio is taken within a round (same minute, same machine state)
and the table shows the median over rounds and the range of the per-round
ratios.
"""
import json
import statistics
import sys
from collections import defaultdict

MODELS = ["ffdnn512", "ffdnn1024", "lstm", "lenet5", "cnn_c", "cnn_v"]
LABELS = {
    "ffdnn512": "FFDNN 1353-512-512-61 (256)",
    "ffdnn1024": "FFDNN 1353-1024-1024-61 (256)",
    "lstm": "LSTM 3x256 char-LM (64 x 128)",
    "lenet5": "LeNet-5 (64)",
    "cnn_c": "CNN C (64)",
    "cnn_v": "CNN V (64)",
}
# Model FLOPs per example of one training update (forward + weight gradients
# + input gradients, less the first layer's input gradients), dense nets only.
def ffdnn_flops(hidden):
    first = 1353 * hidden
    macs = first + hidden * hidden + hidden * 61
    return 2.0 * (3.0 * macs - first)


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip().startswith("{")]
    meta = [r for r in rows if "cpu" in r]
    runs = defaultdict(list)      # (round, impl, model, mode) -> samples/s of each rep
    params = {}
    peaks = defaultdict(list)
    peak_threads = {}
    refit_ms = defaultdict(list)
    for r in rows:
        if "refit_ms" in r:
            refit_ms[r["model"]].append(r["refit_ms"])
        elif "sgemm_peak_gflops" in r:
            peaks[r["impl"]].append(r["sgemm_peak_gflops"])
            peak_threads[r["impl"]] = r.get("threads", "")
        elif "samples_per_s" in r:
            runs[(r["round"], r["impl"], r["model"], r["mode"])].append(r["samples_per_s"])
            params.setdefault((r["model"], r["impl"]), r["params"])
            params[(r["model"], "threads", r["impl"])] = r["threads"]
    process = {k: statistics.median(v) for k, v in runs.items()}
    rounds = sorted({k[0] for k in process})

    def per_round(impl, model, mode):
        return [process[(r, impl, model, mode)] for r in rounds if (r, impl, model, mode) in process]

    if meta:
        m = meta[-1]
        print(f"CPU: {m['cpu']} ({m['isa']}); OPENBLAS_CORETYPE={m['coretype']}; {m['cores']} cores; "
              f"commit {m['commit']}; {m['date']}")
    for impl in ("qretrain", "pytorch"):
        if peaks[impl]:
            # The library doing the products is the process's own (qretrain: runtime.gemm).
            print(f"sgemm peak ({impl} process: {peak_threads.get(impl) or 'all cores'}): median {statistics.median(peaks[impl]):.1f} "
                  f"GFLOP/s, range {min(peaks[impl]):.1f}..{max(peaks[impl]):.1f} over {len(peaks[impl])} rounds")
    print(f"{len(rounds)} rounds; each figure is the median over rounds of a process's median of its repetitions;"
          " [min..max] is the range of the per-round values.\n")
    has_before = any(k[1] == "before" for k in process)
    print("| model (batch) | threads: qretrain / PyTorch | mode | qretrain /s | PyTorch eager /s | qretrain / PyTorch | quantized / float (qretrain) |"
          + (" before /s | qretrain / before |" if has_before else ""))
    print("|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if has_before else ""))
    failures = []
    for model in MODELS:
        if not per_round("qretrain", model, "float"):
            continue
        pq, pp = params.get((model, "qretrain")), params.get((model, "pytorch"))
        if pp is not None and pq != pp:
            failures.append(f"{model}: qretrain has {pq} parameters, the PyTorch reference {pp}")
        float_q = {r: process[(r, "qretrain", model, "float")] for r in rounds if (r, "qretrain", model, "float") in process}
        for mode in ("float", "quant", "epoch", "update"):
            q = {r: process[(r, "qretrain", model, mode)] for r in rounds if (r, "qretrain", model, mode) in process}
            if not q:
                continue
            p_mode = "float" if mode == "float" else "quant"
            p = {r: process[(r, "pytorch", model, p_mode)] for r in rounds if (r, "pytorch", model, p_mode) in process}
            vs = [q[r] / p[r] for r in q if r in p]
            qf = [q[r] / float_q[r] for r in q if r in float_q]
            fmt_range = lambda v: f"{statistics.median(v):.2f}x [{min(v):.2f}..{max(v):.2f}]" if v else "-"
            label = {"float": "float", "quant": "2-bit, Δ fixed", "epoch": "2-bit, Δ refit per epoch",
                     "update": "2-bit, Δ refit every update"}[mode]
            pt = f"{statistics.median(p.values()):.0f}" if p else "-"
            if mode in ("epoch", "update"):
                pt, vs_s = f"({pt}, Δ fixed)" if p else "-", fmt_range(vs)
            else:
                vs_s = fmt_range(vs)
            short = lambda t: t.replace(" intra-op (OpenMP) + ", " OMP + ").replace(" OpenBLAS threads", " BLAS").replace(
                ", GEMM in ", ", ")
            threads = short(params.get((model, "threads", "qretrain"), "")) + " / PyTorch " + short(
                params.get((model, "threads", "pytorch"), "-"))
            line = (f"| {LABELS[model]} | {threads} | {label} | {statistics.median(q.values()):.0f} | {pt} | {vs_s} | "
                    f"{fmt_range(qf) if mode != 'float' else ''} |")
            if has_before:
                b = {r: process[(r, "before", model, mode)] for r in rounds if (r, "before", model, mode) in process}
                gain = [q[r] / b[r] for r in q if r in b]
                line += f" {statistics.median(b.values()):.0f} | {fmt_range(gain)} |" if b else " - | - |"
            print(line)
    dense = [m for m in ("ffdnn512", "ffdnn1024") if per_round("qretrain", m, "float")]
    if dense and peaks["qretrain"]:
        print()
        for m in dense:
            hidden = 512 if m == "ffdnn512" else 1024
            fr = [process[(r, "qretrain", m, "float")] * ffdnn_flops(hidden) / 1e9 for r in rounds
                  if (r, "qretrain", m, "float") in process]
            pk = statistics.median(peaks["qretrain"])
            print(f"{LABELS[m]}, float training: {statistics.median(fr):.1f} model GFLOP/s = "
                  f"{statistics.median(fr) / pk:.2f} of the sgemm peak")
    if refit_ms:
        print("\nΔ refit (QStep of every weight group, 2 bits, on the run's threads), median over rounds, and what it"
              " costs an epoch: one refit takes as long as K updates with Δ fixed, so an epoch of E updates with a"
              " refit runs at E / (E + K) of the Δ-fixed speed.\n")
        print("| model | refit ms | K (updates) | E/(E+K) at E = 100 / 1000 |")
        print("|---|---:|---:|---:|")
        batch = {"ffdnn512": 256, "ffdnn1024": 256, "lstm": 64 * 128, "lenet5": 64, "cnn_c": 64, "cnn_v": 64}
        for model in MODELS:
            if model not in refit_ms:
                continue
            ms = statistics.median(refit_ms[model])
            fixed = per_round("qretrain", model, "quant")
            if fixed:
                update_ms = 1e3 * batch[model] / statistics.median(fixed)
                k = ms / update_ms
                print(f"| {LABELS[model]} | {ms:.1f} | {k:.2f} | {100 / (100 + k):.3f} / {1000 / (1000 + k):.4f} |")
            else:
                print(f"| {LABELS[model]} | {ms:.1f} | - | - |")
    for f in failures:
        print("MISMATCH:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
