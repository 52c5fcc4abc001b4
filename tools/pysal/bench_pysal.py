"""Time esda.G_Local(star=True) on bench/input_10k.csv, k = 1 and 2, both
transforms. Neighbour lists (k-ring incl. self) come from the `h3` package;
their construction and the libpysal W build are timed separately from
G_Local itself. Median of 11 runs. Also writes pysal_z.json (first
values) so the Rust bench can confirm it computed the same thing."""
import json
import os
import statistics
import time

import h3
import numpy as np
from esda.getisord import G_Local
from libpysal.weights import W

here = os.path.dirname(os.path.abspath(__file__))
rows = [l.strip().split(",") for l in open(os.path.join(here, "input_10k.csv")).readlines()[1:]]
cells = [r[0] for r in rows]
y = np.array([float(r[1]) for r in rows])
idx = {c: i for i, c in enumerate(cells)}
RUNS = 11
out = {}
for k in (1, 2):
    t0 = time.perf_counter()
    nbs = {i: sorted(idx[x] for x in h3.grid_disk(c, k) if x in idx) for i, c in enumerate(cells)}
    t_nb = time.perf_counter() - t0
    for transform in ("B", "R"):
        t_w, t_g = [], []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            w = W(nbs, {i: [1.0] * len(v) for i, v in nbs.items()}, silence_warnings=True)
            t1 = time.perf_counter()
            g = G_Local(y, w, transform=transform, star=True, permutations=0)
            t2 = time.perf_counter()
            t_w.append(t1 - t0)
            t_g.append(t2 - t1)
        key = f"k{k}_{transform}"
        out[key] = {"n": len(cells), "Zs": g.Zs.tolist(), "Zs_sum_abs": float(np.abs(g.Zs).sum()),
                    "Zs_max_abs": float(np.abs(g.Zs).max())}
        print(f"{key}: n={len(cells)} h3 neighbour lists {t_nb*1e3:.1f} ms (once), "
              f"W build median {statistics.median(t_w)*1e3:.1f} ms, "
              f"G_Local median {statistics.median(t_g)*1e3:.1f} ms")
json.dump(out, open(os.path.join(here, "pysal_z.json"), "w"), indent=1)
