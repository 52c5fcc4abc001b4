"""Synthetic benchmark input: ~10,000 H3 res-9 cells (grid_disk radius 57 around
28.64 N 121.26 E, 9,919 cells ~ 1,040 km^2, the size of Huangyan district) with
seeded Poisson counts. Writes bench/input_10k.csv (cell,count). Needs `h3`."""
import os

import h3
import numpy as np

centre = h3.latlng_to_cell(28.64, 121.26, 9)
cells = sorted(h3.grid_disk(centre, 57))
rng = np.random.default_rng(12345)
lam = rng.gamma(shape=0.8, scale=2.0, size=len(cells))  # over-dispersed, many zeros
counts = rng.poisson(lam)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "input_10k.csv")
with open(path, "w") as f:
    f.write("cell,count\n")
    for c, n in zip(cells, counts):
        f.write(f"{c},{n}\n")
print(len(cells), "cells, zeros:", int((counts == 0).sum()), "->", path)
