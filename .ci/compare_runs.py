"""Check that two runs of the demo produced the same science data (CI: local vs SLURM run).

Usage: python .ci/compare_runs.py RUN_DIR_A RUN_DIR_B
Compares every ingested snapshot's particle datasets bit for bit (provenance attributes such
as host and times legitimately differ).
"""

import sys
from pathlib import Path

import h5py
import numpy as np


def datasets(group: h5py.Group) -> list[str]:
    names: list[str] = []
    group.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def main(a: Path, b: Path) -> int:
    files = sorted(p.relative_to(a) for p in (a / "ingested").rglob("*.h5"))
    if not files:
        print(f"no ingested snapshots under {a}", file=sys.stderr)
        return 1
    for rel in files:
        with h5py.File(a / rel) as fa, h5py.File(b / rel) as fb:
            for name in ("particles/pos", "particles/ids"):
                if not np.array_equal(fa[name][...], fb[name][...]):
                    print(f"{rel}: {name} differs between {a} and {b}", file=sys.stderr)
                    return 1
            for key in ("redshift", "a", "box", "particle_mass", "omega_m", "sigma8"):
                if fa.attrs[key] != fb.attrs[key]:
                    print(f"{rel}: attribute {key} differs", file=sys.stderr)
                    return 1
    # Every other HDF5 science product: all datasets must be bit-identical.
    others = sorted(p.relative_to(a) for p in a.rglob("*.h5") if p.relative_to(a).parts[0] != "ingested")
    for rel in others:
        if not (b / rel).is_file():
            continue  # stages the other run did not reach
        with h5py.File(a / rel) as fa, h5py.File(b / rel) as fb:
            names = datasets(fa)
            for name in names:
                if not np.array_equal(fa[name][...], fb[name][...]):
                    print(f"{rel}: {name} differs between {a} and {b}", file=sys.stderr)
                    return 1
    print(f"{len(files)} ingested snapshots and {len(others)} other HDF5 products identical in {a} and {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
