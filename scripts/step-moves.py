#!/usr/bin/env python3
"""How far each layer's step size moved during retraining, per method and bit
width: the signed relative change of Δ (the layer's mean Δ for per-channel
groups) from the first evaluation (the starting QStep Δ) to the last, mean and
range over the seeds, from a results store. Used for issue 18's reading of LSQ
against adaptive; prints markdown with its provenance.

  scripts/step-moves.py STORE EXPERIMENT [METHOD...]
"""
import collections
import datetime
import sqlite3
import sys

store, experiment = sys.argv[1], sys.argv[2]
methods = sys.argv[3:] or ["adaptive", "adaptive@channel", "lsq", "lsq@channel"]
db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
moves = collections.defaultdict(list)  # (method, bits) -> [per-layer changes of one seed]
names = {}
commits = set()
query = ("select id, method, bits, group_names, commit_id from runs where experiment = ? and status = 'ok' "
         f"and method in ({','.join('?' * len(methods))}) order by method, bits, seed")
for run_id, method, bits, group_names, commit in db.execute(query, (experiment, *methods)):
    steps = collections.defaultdict(dict)
    for evaluation, group, delta in db.execute("select eval_idx, grp, delta from step_sizes where run_id = ?",
                                               (run_id,)):
        steps[evaluation][group] = delta
    if len(steps) < 2:
        continue
    first, last = steps[min(steps)], steps[max(steps)]
    moves[(method, bits)].append([100.0 * (last[g] / first[g] - 1.0) for g in sorted(first)])
    names[(method, bits)] = group_names
    commits.add(commit)
if not moves:
    sys.exit(f"no runs of {', '.join(methods)} with step sizes in experiment '{experiment}' of {store}")

order = {m: i for i, m in enumerate(methods)}
print(f"Signed change of each layer's Δ from the first to the last evaluation of retraining (%; per-channel "
      f"groups: their mean Δ), mean over seeds [min, max], experiment `{experiment}`.\n")
layers = next(iter(names.values()))
print(f"| method | bits | seeds | {' | '.join(layers.split()) if layers else 'layers'} |")
print("|---|---:|---:|" + "---:|" * len(next(iter(moves.values()))[0]))
for (method, bits), runs in sorted(moves.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
    cells = []
    for g in range(len(runs[0])):
        values = [r[g] for r in runs]
        cells.append(f"{sum(values) / len(values):+.1f} [{min(values):+.1f}, {max(values):+.1f}]")
    print(f"| {method} | {bits} | {len(runs)} | {' | '.join(cells)} |")
print(f"\nProduced by `scripts/step-moves.py {store} {experiment}` on "
      f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ} from runs of commit(s) "
      f"{', '.join(sorted(commits))}.")
