"""Reference Gi* values from PySAL esda for the Rust `hotspots` module.

Fixed example: the 61 H3 res-9 cells of grid_disk(cell(28.64 N, 121.26 E), 4)
with fixed integer counts (zeros included). The neighbour structure is
hard-coded too (RING1[i] / RING2[i] = indices of the study cells at grid
distance exactly 1 / 2 from cell i, generated once with the `h3` package by
make_fixture.py), so this script needs only numpy, scipy, libpysal and esda.

Weights, as in the Rust module: neighbours of i = study cells within k rings,
the cell itself included (w_ii = 1, esda's star convention for binary weights).
For each k in {1, 2} and transform in {'B', 'R'} it runs
    esda.G_Local(y, w, transform=t, star=True, permutations=0)
and records Zs and p_norm (esda's p_norm is ONE-sided: norm.sf(|z|); the Rust
module reports the two-sided p = 2 * p_norm).

The inverse-ring weighting (w = 1/(1+d)) has no esda counterpart (esda's
analytical moments assume binary or row-standardised weights), so it is
evaluated directly with NumPy from the Getis & Ord (1995) formula and written
under "numpy_getis_ord_1995".

Output: gistar_reference.json next to this script.
Run:    .venv/bin/python pysal/gistar_reference.py
"""
import json
import os
import warnings

import esda
import libpysal
import numpy as np
import scipy
from esda.getisord import G_Local
from libpysal.weights import W
from scipy import stats

CELLS = [
    "894b3290123ffff", "894b3290127ffff", "894b329012bffff", "894b329012fffff",
    "894b3290137ffff", "894b3290893ffff", "894b329089bffff", "894b32908c3ffff",
    "894b32908d3ffff", "894b32908d7ffff", "894b32908dbffff", "894b3290c03ffff",
    "894b3290c07ffff", "894b3290c0bffff", "894b3290c0fffff", "894b3290c13ffff",
    "894b3290c17ffff", "894b3290c1bffff", "894b3290c23ffff", "894b3290c2bffff",
    "894b3290c2fffff", "894b3290c33ffff", "894b3290c3bffff", "894b3290c43ffff",
    "894b3290c47ffff", "894b3290c4bffff", "894b3290c4fffff", "894b3290c53ffff",
    "894b3290c57ffff", "894b3290c5bffff", "894b3290c63ffff", "894b3290c67ffff",
    "894b3290c6bffff", "894b3290c6fffff", "894b3290c73ffff", "894b3290c77ffff",
    "894b3290c7bffff", "894b3290c8bffff", "894b3290c8fffff", "894b3290cabffff",
    "894b3290cbbffff", "894b3290cc3ffff", "894b3290cc7ffff", "894b3290ccbffff",
    "894b3290ccfffff", "894b3290cd3ffff", "894b3290cd7ffff", "894b3290cdbffff",
    "894b3290e17ffff", "894b3290e83ffff", "894b3290e87ffff", "894b3290e8fffff",
    "894b3290e93ffff", "894b3290e97ffff", "894b3290ea3ffff", "894b3290ea7ffff",
    "894b3290eabffff", "894b3290eafffff", "894b3290eb3ffff", "894b3290eb7ffff",
    "894b3290ebbffff",
]
COUNTS = [1, 0, 1, 1, 0, 0, 0, 2, 1, 0, 0, 6, 4, 6, 6, 2, 0, 0, 1, 0, 1, 3, 1, 0, 0, 1, 0, 1, 2, 3, 2, 1,
 1, 2, 4, 4, 0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 2, 0]
RING1 = [[1, 2, 3, 4], [0, 3, 4, 27, 29, 43], [0, 3, 52], [0, 1, 2, 29, 52, 53], [0, 1, 43, 47],
 [6, 19, 20, 31], [5, 9, 31, 33], [8, 9, 10], [7, 9, 10, 32, 33, 55], [6, 7, 8, 33],
 [7, 8, 55, 57], [12, 13, 14, 15, 16, 17], [11, 14, 16, 21, 22, 39], [11, 14, 17, 24, 28, 34],
 [11, 12, 13, 22, 34, 35], [11, 16, 17, 37, 38, 42], [11, 12, 15, 38, 39, 40],
 [11, 13, 15, 28, 42, 44], [19, 20, 21, 22], [5, 18, 20, 22, 31, 35], [5, 18, 19],
 [12, 18, 22, 39], [12, 14, 18, 19, 21, 35], [24, 25, 26, 27, 28, 29], [13, 23, 26, 28, 34, 36],
 [23, 26, 29, 50, 53, 58], [23, 24, 25, 36, 58, 59], [1, 23, 28, 29, 43, 44],
 [13, 17, 23, 24, 27, 44], [1, 3, 23, 25, 27, 53], [31, 32, 33, 34, 35, 36],
 [5, 6, 19, 30, 33, 35], [8, 30, 33, 36, 55, 59], [6, 8, 9, 30, 31, 32],
 [13, 14, 24, 30, 35, 36], [14, 19, 22, 30, 31, 34], [24, 26, 30, 32, 34, 59], [15, 38, 42, 46],
 [15, 16, 37, 40], [12, 16, 21, 40], [16, 38, 39], [42, 43, 44, 45, 46, 47],
 [15, 17, 37, 41, 44, 46], [1, 4, 27, 41, 44, 47], [17, 27, 28, 41, 42, 43], [41, 46, 47],
 [37, 41, 42, 45], [4, 41, 43, 45], [51, 56, 60], [50, 51, 52, 53], [25, 49, 51, 53, 58, 60],
 [48, 49, 50, 60], [2, 3, 49, 53], [3, 25, 29, 49, 50, 52], [55, 56, 57, 58, 59, 60],
 [8, 10, 32, 54, 57, 59], [48, 54, 57, 60], [10, 54, 55, 56], [25, 26, 50, 54, 59, 60],
 [26, 32, 36, 54, 55, 58], [48, 50, 51, 54, 56, 58]]
RING2 = [[27, 29, 43, 47, 52, 53], [2, 23, 25, 28, 41, 44, 47, 52, 53], [1, 4, 29, 49, 53],
 [4, 23, 25, 27, 43, 49, 50], [2, 3, 27, 29, 41, 44, 45], [9, 18, 22, 30, 33, 35],
 [7, 8, 19, 20, 30, 32, 35], [6, 32, 33, 55, 57], [6, 30, 31, 36, 54, 57, 59],
 [5, 10, 30, 31, 32, 55], [9, 32, 33, 54, 56, 59],
 [21, 22, 24, 28, 34, 35, 37, 38, 39, 40, 42, 44], [13, 15, 17, 18, 19, 34, 35, 38, 40],
 [12, 15, 16, 22, 23, 26, 27, 30, 35, 36, 42, 44],
 [15, 16, 17, 18, 19, 21, 24, 28, 30, 31, 36, 39], [12, 13, 14, 28, 39, 40, 41, 44, 46],
 [13, 14, 17, 21, 22, 37, 42], [12, 14, 16, 23, 24, 27, 34, 37, 38, 41, 43, 46],
 [5, 12, 14, 31, 35, 39], [6, 12, 14, 21, 30, 33, 34], [6, 21, 22, 31, 35],
 [11, 14, 16, 19, 20, 35, 40], [5, 11, 13, 16, 20, 30, 31, 34, 39],
 [1, 3, 13, 17, 34, 36, 43, 44, 50, 53, 58, 59],
 [11, 14, 17, 25, 27, 29, 30, 32, 35, 44, 58, 59],
 [1, 3, 24, 27, 28, 36, 49, 51, 52, 54, 59, 60],
 [13, 27, 28, 29, 30, 32, 34, 50, 53, 54, 55, 60],
 [0, 3, 4, 13, 17, 24, 25, 26, 41, 42, 47, 53], [1, 11, 14, 15, 25, 26, 29, 34, 36, 41, 42, 43],
 [0, 2, 4, 24, 26, 28, 43, 44, 49, 50, 52, 58], [5, 6, 8, 9, 13, 14, 19, 22, 24, 26, 55, 59],
 [8, 9, 14, 18, 20, 22, 32, 34, 36], [6, 7, 9, 10, 24, 26, 31, 34, 35, 54, 57, 58],
 [5, 7, 10, 19, 34, 35, 36, 55, 59], [11, 12, 17, 19, 22, 23, 26, 28, 31, 32, 33, 59],
 [5, 6, 11, 12, 13, 18, 20, 21, 24, 32, 33, 36],
 [8, 13, 14, 23, 25, 28, 31, 33, 35, 54, 55, 58], [11, 16, 17, 40, 41, 44, 45],
 [11, 12, 17, 39, 42, 46], [11, 14, 15, 18, 22, 38], [11, 12, 15, 21, 37],
 [1, 4, 15, 17, 27, 28, 37], [11, 13, 16, 27, 28, 38, 43, 45, 47],
 [0, 3, 17, 23, 28, 29, 42, 45, 46], [1, 4, 11, 13, 15, 23, 24, 29, 37, 45, 46, 47],
 [4, 37, 42, 43, 44], [15, 17, 38, 43, 44, 47], [0, 1, 27, 42, 44, 46], [49, 50, 54, 57, 58],
 [2, 3, 25, 29, 48, 58, 60], [3, 23, 26, 29, 48, 52, 54, 56, 59], [25, 52, 53, 54, 56, 58],
 [0, 1, 25, 29, 50, 51], [0, 1, 2, 23, 26, 27, 51, 58, 60], [8, 10, 25, 26, 32, 36, 48, 50, 51],
 [7, 9, 26, 30, 33, 36, 56, 58, 60], [10, 50, 51, 55, 58, 59], [7, 8, 32, 48, 58, 59, 60],
 [23, 24, 29, 32, 36, 48, 49, 51, 53, 55, 56, 57],
 [8, 10, 23, 24, 25, 30, 33, 34, 50, 56, 57, 60], [25, 26, 49, 53, 55, 57, 59]]


def neighbour_lists(k, with_self=True):
    out = {}
    for i in range(len(CELLS)):
        nb = list(RING1[i]) + (list(RING2[i]) if k >= 2 else [])
        out[i] = sorted(([i] if with_self else []) + nb)
    return out


def ring_distance(i, j):
    if i == j:
        return 0
    if j in RING1[i]:
        return 1
    if j in RING2[i]:
        return 2
    raise ValueError("not within 2 rings")


def getis_ord_1995(y, nbs, weight_of_distance):
    """Direct Getis & Ord (1995) Gi* z with arbitrary weights (self included)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    mean = y.mean()
    s = np.sqrt((y ** 2).mean() - mean ** 2)
    z = np.empty(n)
    for i in range(n):
        w = np.array([weight_of_distance(ring_distance(i, j)) for j in nbs[i]])
        yj = y[nbs[i]]
        wsum, w2 = w.sum(), (w ** 2).sum()
        z[i] = (w @ yj - mean * wsum) / (s * np.sqrt((n * w2 - wsum ** 2) / (n - 1)))
    return z


def main():
    assert len(CELLS) == len(COUNTS) == len(RING1) == len(RING2) == 61
    y = np.array(COUNTS, dtype=float)
    results = {}
    for k in (1, 2):
        for transform in ("B", "R"):
            nbs = neighbour_lists(k, with_self=True)
            w = W(nbs, {i: [1.0] * len(v) for i, v in nbs.items()}, silence_warnings=True)
            g = G_Local(y, w, transform=transform, star=True, permutations=0)
            # Cross-check: without self in the lists, star=True makes esda add
            # the self weight itself (1 for binary, row max = 1 for 'R').
            nbs0 = neighbour_lists(k, with_self=False)
            w0 = W(nbs0, {i: [1.0] * len(v) for i, v in nbs0.items()}, silence_warnings=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g0 = G_Local(y, w0, transform=transform, star=True, permutations=0)
            assert np.allclose(g.Zs, g0.Zs, rtol=0, atol=1e-12), "self-weight conventions differ"
            # p_norm is one-sided.
            assert np.allclose(g.p_norm, stats.norm.sf(np.abs(g.Zs)), rtol=0, atol=1e-15)
            results[f"k{k}_{transform}"] = {
                "k": k,
                "transform": transform,
                "Gs": g.Gs.tolist(),
                "Zs": g.Zs.tolist(),
                "p_norm": g.p_norm.tolist(),
                "p_two_sided": (2.0 * g.p_norm).tolist(),
            }
    numpy_ref = {}
    for k in (1, 2):
        nbs = neighbour_lists(k, with_self=True)
        z_bin = getis_ord_1995(y, nbs, lambda d: 1.0)
        # Sanity: the direct formula with binary weights equals esda 'B'.
        assert np.allclose(z_bin, results[f"k{k}_B"]["Zs"], rtol=0, atol=1e-12)
        z_inv = getis_ord_1995(y, nbs, lambda d: 1.0 / (1.0 + d))
        numpy_ref[f"k{k}_inverse_ring"] = {
            "k": k,
            "weights": "1/(1+d)",
            "z": z_inv.tolist(),
            "p_two_sided": (2.0 * stats.norm.sf(np.abs(z_inv))).tolist(),
        }
    out = {
        "description": "esda.G_Local(y, w, transform=t, star=True) on 61 H3 res-9 cells; "
        "w = k-ring neighbours incl. self, weight 1 before transform. "
        "p_norm is one-sided (norm.sf(|Zs|)); p_two_sided = 2*p_norm.",
        "versions": {
            "esda": esda.__version__,
            "libpysal": libpysal.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "cells": CELLS,
        "counts": COUNTS,
        "ring1": RING1,
        "ring2": RING2,
        "esda": results,
        "numpy_getis_ord_1995": numpy_ref,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gistar_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for key, r in results.items():
        print(key, "max |Zs| =", round(max(abs(v) for v in r["Zs"]), 4))
    print("wrote", path)


if __name__ == "__main__":
    main()
