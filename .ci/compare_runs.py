"""Check that two runs of the demo produced the same science data (CI: local vs SLURM run).

Usage: python .ci/compare_runs.py RUN_DIR_A RUN_DIR_B

Run B may be a subset of run A (CI's SLURM rerun builds a representative target set). Every
HDF5 product of run B is compared with its namesake in A with ``wlcnn diff``
(:func:`wlcnn.diff.diff_paths`): datasets bit for bit and every attribute except the provenance
record, whose times, host and SLURM job id legitimately differ (those differences are counted,
not failed). B must have ingested snapshots, and every product of B must exist in A.
"""

import sys
from pathlib import Path

from wlcnn.diff import DiffInputError, DiffReport, diff_paths


def main(a: Path, b: Path) -> int:
    ingested = sorted(p.relative_to(b) for p in (b / "ingested").rglob("*.h5"))
    if not ingested:
        print(f"no ingested snapshots under {b}", file=sys.stderr)
        return 1
    products = sorted(p.relative_to(b) for p in b.rglob("*.h5"))
    missing = [rel for rel in products if not (a / rel).is_file()]
    if missing:
        print(f"{a}: products of {b} missing: {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    total = DiffReport()
    for rel in products:
        try:
            report = diff_paths(a / rel, b / rel)
        except DiffInputError as exc:
            print(f"compare_runs: error: {exc}", file=sys.stderr)
            return 2
        for difference in report.content:
            print(f"{rel}: {difference.where}: {difference.detail} ({a} vs {b})", file=sys.stderr)
        total.content += report.content
        total.provenance += report.provenance
        total.files += report.files
    if not total.identical:
        print(f"{len(total.content)} content difference(s) between {a} and {b}", file=sys.stderr)
        return 1
    print(
        f"{len(ingested)} ingested snapshots and {len(products) - len(ingested)} other HDF5 products "
        f"identical in {a} and {b} ({len(total.provenance)} provenance-only differences: times, hosts, ...)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
