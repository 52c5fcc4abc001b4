"""One-off generator for the fixed example embedded in gistar_reference.py.

Needs the `h3` package (only this generator does). Prints a Python block
(CELLS, COUNTS, RING1, RING2) to paste into gistar_reference.py.
"""
import h3
import numpy as np

centre = h3.latlng_to_cell(28.64, 121.26, 9)
cells = sorted(h3.grid_disk(centre, 4))  # 61 cells
rng = np.random.default_rng(20240801)
# Hot blob north-east of the centre, quieter elsewhere, many zeros.
lat0, lng0 = h3.cell_to_latlng(centre)
counts = []
for c in cells:
    lat, lng = h3.cell_to_latlng(c)
    d_hot = np.hypot(lat - (lat0 + 0.004), lng - (lng0 + 0.004))
    lam = 0.6 + 9.0 * np.exp(-(d_hot / 0.003) ** 2)
    counts.append(int(rng.poisson(lam)))
idx = {c: i for i, c in enumerate(cells)}
ring1, ring2 = [], []
for c in cells:
    ring1.append(sorted(idx[x] for x in h3.grid_ring(c, 1) if x in idx))
    ring2.append(sorted(idx[x] for x in h3.grid_ring(c, 2) if x in idx))
print("CELLS = [")
for i in range(0, len(cells), 4):
    print("    " + ", ".join(f'"{c}"' for c in cells[i:i + 4]) + ",")
print("]")
import pprint
print("COUNTS = " + pprint.pformat(counts, width=96, compact=True))
print("RING1 = " + pprint.pformat(ring1, width=96, compact=True))
print("RING2 = " + pprint.pformat(ring2, width=96, compact=True))
