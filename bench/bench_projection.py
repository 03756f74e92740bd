"""Benchmark of the shell projection (wlcnn.maps) against a plain numpy version and UFalcon.

Three measurements on the same synthetic snapshot (uniform particles; the cost does not
depend on clustering):

1. Pencil beam (KiDS-450 mode), per shell: the compiled, cell-pre-selected projection
   (``wlcnn.maps.pencil_beam.project_counts``) against numpy given the same cell culling
   (``project_counts_numpy_culled`` below). Both give identical counts (checked). Reports
   particles tested per second (the particles of the cells visited), ms per map, the speed-up
   and the ``np.bincount`` scatter rate into the map measured in the same run (the limit).
2. HEALPix mode, light-cone file -> shells: UFalcon 2.0.0's ``construct_shells`` (run in a
   separate interpreter, ``--ufalcon-python``, since UFalcon needs pip < 26.3 and old
   dependencies) against ``wlcnn.maps.healpix_shells.shells_from_positions`` on the same
   file of light-cone particles (the snapshot's periodic images out to ``--hp-zmax``).
3. HEALPix mode from the snapshot itself: ``counts_from_snapshot`` makes the same shells
   without ever writing the images.

Run ``python bench/bench_projection.py --help``. Single-threaded throughout (one core).
UFalcon in a throwaway environment::

    python -m venv /tmp/ufvenv && /tmp/ufvenv/bin/pip install "pip<26.3" && \\
        /tmp/ufvenv/bin/pip install ufalcon==2.0.0
    python bench/bench_projection.py --ufalcon-python /tmp/ufvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wlcnn.cosmology import comoving_distance, make_cosmology
from wlcnn.maps.cellgrid import ParticleGrid
from wlcnn.maps.gnomonic import PatchGeometry
from wlcnn.maps.healpix_shells import counts_from_snapshot, shells_from_positions
from wlcnn.maps.pencil_beam import beam_regions, project_counts
from wlcnn.maps.shells import Shell
from wlcnn.maps.symmetries import BoxTransform, draw_transform, identity_transform

#: Pixel indices scattered to measure the np.bincount rate (the per-core binning limit).
BINCOUNT_SAMPLES = 4_000_000

UFALCON_CHILD = r"""
import json, sys, time
import numpy as np
from astropy.cosmology import FlatLambdaCDM
from UFalcon import shells, utils
args = json.loads(sys.argv[1])
# H0 = 100: UFalcon's "Mpc" are then Mpc/h, the unit of the positions in the file.
cosmo = FlatLambdaCDM(H0=100.0, Om0=args["omega_m"])
t0 = time.perf_counter()
counts = shells.construct_shells(args["dir"], np.array(args["z_shells"]), args["box_gpc"], cosmo,
                                 args["nside"], file_format="pkdgrav")
elapsed = time.perf_counter() - t0
np.save(args["out"], counts)
radii = [float(utils.comoving_distance(0, z, cosmo)) for z in args["z_shells"]]
print("\n@@RESULT@@" + json.dumps({"seconds": elapsed, "radii": radii}))
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--n-particles-1d", type=int, default=256, help="pencil beam: N^(1/3) particles")
    p.add_argument("--box", type=float, default=500 * 0.6736, help="box side, Mpc/h (paper: 500 Mpc)")
    p.add_argument("--omega-m", type=float, default=0.3)
    p.add_argument(
        "--shells",
        default="0.05:0.10,1.00:1.05,3.35:3.45",
        help="pencil-beam shells as z_near:z_far, comma separated",
    )
    p.add_argument("--realisations", type=int, default=200, help="fast path: realisations per shell")
    p.add_argument(
        "--naive-realisations",
        type=int,
        default=5,
        help="numpy (same culling) baseline: realisations per shell",
    )
    p.add_argument("--repeat", type=int, default=3, help="interleaved repeats (best of)")
    p.add_argument("--n-pix", type=int, default=128)
    p.add_argument("--patch-deg", type=float, default=5.0)
    p.add_argument("--hp-n-particles-1d", type=int, default=64, help="HEALPix part: N^(1/3) particles")
    p.add_argument("--hp-zmax", type=float, default=0.3, help="HEALPix part: light cone out to this redshift")
    p.add_argument("--hp-dz", type=float, default=0.05, help="HEALPix part: shell thickness in z")
    p.add_argument("--nside", type=int, default=256)
    p.add_argument(
        "--ufalcon-python",
        default=None,
        help="python of an environment with ufalcon==2.0.0 (skipped when absent)",
    )
    p.add_argument("--skip-healpix", action="store_true")
    p.add_argument("--skip-pencil", action="store_true", help="HEALPix part only")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the results here")
    return p


def project_counts_numpy_culled(
    grid: ParticleGrid,
    shell: Shell,
    geometry: PatchGeometry,
    transform: BoxTransform,
    *,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """The fair numpy baseline: the same cell culling (``beam_regions``), then vectorised numpy.

    Gathers the particles of the beam's cell boxes (one contiguous slice per ``(cx, cy)``
    column), transforms them with :meth:`BoxTransform.apply`, adds the replica offset and bins
    them with ``np.bincount``. Same expressions as the kernel: identical counts.

    ``rows``: the grid's positions as a C-contiguous ``(N, 3)`` array (numpy's fastest layout
    here: slicing the grid's one-row-per-axis storage per axis was 0-40 % slower); None uses
    the strided view ``grid.pos``.

    Returns
    -------
    tuple
        ``(counts, tested)``: int64 ``(n_pix, n_pix)`` counts and particles transformed.
    """
    regions = beam_regions(shell, geometry, transform, grid)
    n = geometry.n_pix
    a = geometry.half_width
    inv_delta = 1.0 / geometry.pixel_size_rad
    nc = grid.n_cells
    flat = np.zeros(n * n, dtype=np.int64)
    tested = 0
    sorted_pos = grid.pos if rows is None else rows
    for (cx0, cx1, cy0, cy1, cz0, cz1), off in zip(regions.cells, regions.offsets, strict=True):
        cx, cy = np.meshgrid(np.arange(cx0, cx1), np.arange(cy0, cy1), indexing="ij")
        first = (cx.ravel() * nc + cy.ravel()) * nc
        starts, stops = grid.offsets[first + cz0], grid.offsets[first + cz1]
        pos = np.concatenate(
            [sorted_pos[i:j] for i, j in zip(starts, stops, strict=True) if j > i] or [sorted_pos[:0]]
        )
        tested += pos.shape[0]
        v = transform.apply(pos)
        x = v[:, 0] + off[0]
        y = v[:, 1] + off[1]
        z = v[:, 2] + off[2]
        r2 = x * x + y * y + z * z
        keep = (z > 0.0) & (r2 >= shell.r_near**2) & (r2 < shell.r_far**2)
        x, y, z = x[keep], y[keep], z[keep]
        fx = (x / z + a) * inv_delta
        fy = (y / z + a) * inv_delta
        inside = (fx >= 0.0) & (fy >= 0.0) & (fx < n) & (fy < n)
        pix = np.floor(fy[inside]).astype(np.int64) * n + np.floor(fx[inside]).astype(np.int64)
        flat += np.bincount(pix, minlength=n * n)
    return flat.reshape(n, n), tested


def bincount_rate(n_pix: int, *, n_samples: int, repeat: int, seed: int) -> float:
    """The physical limit measured in the same run: ``np.bincount`` scatter rate into n_pix², per s."""
    pix = np.random.default_rng(seed).integers(0, n_pix * n_pix, n_samples)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.bincount(pix, minlength=n_pix * n_pix)
        best = min(best, time.perf_counter() - t0)
    return n_samples / best


def bench_pencil(args: argparse.Namespace, cosmo) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    n = args.n_particles_1d**3
    pos = rng.uniform(0, args.box, (n, 3)).astype(np.float32)
    t0 = time.perf_counter()
    grid = ParticleGrid.build(pos, box=args.box)
    t_grid = time.perf_counter() - t0
    del pos
    # The numpy baseline's best layout: interleaved (N, 3) rows in cell order (made once, untimed).
    rows = np.ascontiguousarray(grid.pos)
    geometry = PatchGeometry(n_pix=args.n_pix, patch_size_deg=args.patch_deg)
    # Compile outside the timings.
    warm = Shell(0, 0, 0.0, 0.0, 100.0, 200.0)
    project_counts(grid, warm, geometry, identity_transform(args.box))
    results = []
    for k, spec in enumerate(args.shells.split(",")):
        z0, z1 = (float(v) for v in spec.split(":"))
        r0, r1 = (float(comoving_distance(cosmo, z)) for z in (z0, z1))
        shell = Shell(k, 1, z0, z1, r0, r1)
        transforms = [
            draw_transform(
                base_seed=args.seed,
                cosmology="bench",
                simulation="sim00",
                snapshot=k,
                realisation=i,
                box=args.box,
            )
            for i in range(args.realisations)
        ]
        some = transforms[: args.naive_realisations]
        # Interleaved repeats, best of each: the machine is shared.
        t_fast = t_numpy = t_regions = math.inf
        limit = 0.0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fast = [project_counts(grid, shell, geometry, tr) for tr in transforms]
            t_fast = min(t_fast, time.perf_counter() - t0)
            t0 = time.perf_counter()
            culled = [project_counts_numpy_culled(grid, shell, geometry, tr, rows=rows) for tr in some]
            t_numpy = min(t_numpy, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for tr in transforms:
                beam_regions(shell, geometry, tr, grid)
            t_regions = min(t_regions, time.perf_counter() - t0)
            rate = bincount_rate(args.n_pix, n_samples=BINCOUNT_SAMPLES, repeat=3, seed=args.seed)
            limit = max(limit, rate)
        identical = all(np.array_equal(a[0], b[0]) for a, b in zip(fast, culled, strict=False))
        tested_fast = float(np.mean([t for _, t in fast]))
        tested_numpy = float(np.mean([t for _, t in culled]))
        per_map_fast = t_fast / len(transforms)
        per_map_numpy = t_numpy / len(some)
        row = {
            "shell": f"z {z0:.2f}-{z1:.2f} (r {r0:.0f}-{r1:.0f} Mpc/h)",
            "particles": n,
            "box": args.box,
            "n_pix": args.n_pix,
            "in_beam_per_map": float(np.mean([c.sum() for c, _ in fast])),
            "tested_per_map": tested_fast,
            "numpy_culled_transformed_per_map": tested_numpy,
            "fast_ms_per_map": 1e3 * per_map_fast,
            "fast_tested_per_s": tested_fast / per_map_fast,
            "numpy_culled_ms_per_map": 1e3 * per_map_numpy,
            "numpy_culled_transformed_per_s": tested_numpy / per_map_numpy,
            "bincount_per_s": limit,
            "fast_fraction_of_bincount": tested_fast / per_map_fast / limit,
            "speedup_vs_numpy_culled": per_map_numpy / per_map_fast,
            "python_overhead_fraction": t_regions / t_fast,
            "identical_counts": identical,
            "grid_build_s": t_grid,
        }
        results.append(row)
        print(
            f"pencil {row['shell']}: wlcnn {row['fast_ms_per_map']:.2f} ms/map "
            f"({row['fast_tested_per_s']:.3g} tested/s = {row['fast_fraction_of_bincount']:.2f} of "
            f"np.bincount {limit:.3g}/s), numpy+culling {row['numpy_culled_ms_per_map']:.2f} ms/map "
            f"({row['numpy_culled_transformed_per_s']:.3g}/s), "
            f"speed-up {row['speedup_vs_numpy_culled']:.1f}x; "
            f"in beam {row['in_beam_per_map']:.3g}, tested {tested_fast:.3g} per map; "
            f"beam_regions {row['python_overhead_fraction']:.0%} of the time; identical: {identical}",
            flush=True,
        )
    print(f"grid build (once per snapshot): {t_grid:.2f} s for {n} particles", flush=True)
    return results


def _lightcone_images(pos: np.ndarray, box: float, r_max: float) -> np.ndarray:
    """Every periodic image within r_max of the observer at the origin (what a light cone holds)."""
    out = []
    m = math.ceil(r_max / box)
    for i in range(-m, m):
        for j in range(-m, m):
            for k in range(-m, m):
                p = pos.astype(np.float64) + np.array([i, j, k]) * box
                keep = np.einsum("ij,ij->i", p, p) < r_max**2
                if keep.any():
                    out.append(p[keep].astype(np.float32))
    return np.concatenate(out)


def bench_healpix(args: argparse.Namespace, cosmo) -> dict:
    rng = np.random.default_rng(args.seed + 1)
    n = args.hp_n_particles_1d**3
    box = args.box
    pos = rng.uniform(0, box, (n, 3)).astype(np.float32)
    z_shells = np.round(np.arange(0.0, args.hp_zmax + 1e-9, args.hp_dz), 10)
    radii = np.asarray(comoving_distance(cosmo, z_shells), dtype=np.float64)
    result: dict = {"particles": n, "box": box, "nside": args.nside, "z_shells": z_shells.tolist()}
    with tempfile.TemporaryDirectory() as tmp:
        images = _lightcone_images(pos, box, float(radii[-1]) * 1.0001)
        result["lightcone_particles"] = int(images.shape[0])
        # UFalcon's "pkdgrav" light-cone format: 7 float32 per particle, positions in box units.
        rows = np.zeros((images.shape[0], 7), dtype=np.float32)
        rows[:, :3] = images / np.float32(box)
        lc_dir = Path(tmp) / "lc"
        lc_dir.mkdir()
        rows.tofile(lc_dir / "run.00001.lcp.0")
        del rows
        ufalcon = None
        if args.ufalcon_python:
            spec = {
                "dir": str(lc_dir),
                "z_shells": z_shells.tolist(),
                "box_gpc": box / 1000.0,
                "omega_m": args.omega_m,
                "nside": args.nside,
                "out": str(Path(tmp) / "uf.npy"),
            }
            # Best of --repeat for UFalcon too: the same statistic as ours, fair under load.
            for _ in range(args.repeat):
                done = subprocess.run(
                    [args.ufalcon_python, "-c", UFALCON_CHILD, json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0:
                    break
                # UFalcon prints progress without a newline: the result follows a marker.
                run = json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])
                if ufalcon is None or run["seconds"] < ufalcon["seconds"]:
                    ufalcon = run
            if done.returncode == 0 and ufalcon is not None:
                ufalcon["counts"] = np.load(Path(tmp) / "uf.npy")
                radii = np.asarray(ufalcon["radii"])  # identical shells on both sides
            else:
                result["ufalcon_error"] = done.stderr[-2000:]
                print("UFalcon failed:", done.stderr[-500:], flush=True)
        else:
            result["ufalcon_error"] = "not run (no --ufalcon-python)"
        # Ours from the same file (read included, as in UFalcon).
        shells_from_positions(images[:10], r_edges=radii, nside=args.nside)  # compile
        t_lc = math.inf
        for _ in range(args.repeat):  # best of --repeat, as for UFalcon
            t0 = time.perf_counter()
            # Memory-mapped records, x y z columns read in place, edges in box units: no copies.
            records = np.memmap(lc_dir / "run.00001.lcp.0", dtype=np.float32, mode="r").reshape(-1, 7)
            ours = shells_from_positions(records[:, :3], r_edges=radii / box, nside=args.nside)
            t_lc = min(t_lc, time.perf_counter() - t0)
            del records
        result["wlcnn_lightcone_s"] = t_lc
        # Ours straight from the snapshot (replicas, no images written).
        grid_t0 = time.perf_counter()
        grid = ParticleGrid.build(pos, box=box)
        t_grid = time.perf_counter() - grid_t0
        counts_from_snapshot(
            grid, r_near=radii[0], r_far=radii[1], nside=8, transform=identity_transform(box)
        )  # compile
        t0 = time.perf_counter()
        snap = np.stack(
            [
                counts_from_snapshot(
                    grid,
                    r_near=radii[i],
                    r_far=radii[i + 1],
                    nside=args.nside,
                    transform=identity_transform(box),
                )[0]
                for i in range(len(radii) - 1)
            ]
        )
        t_snap = time.perf_counter() - t0 + t_grid
        result["wlcnn_snapshot_s"] = t_snap
        result["snapshot_equals_lightcone_file"] = float(np.abs(snap - ours).sum() / ours.sum())
        msg = (
            f"healpix nside {args.nside}, {len(radii) - 1} shells to z={args.hp_zmax}, "
            f"{images.shape[0]:.3g} light-cone particles: wlcnn from the file {t_lc:.2f} s "
            f"({images.shape[0] / t_lc:.3g} particles/s), from the snapshot {t_snap:.2f} s"
        )
        if ufalcon is not None:
            uf = ufalcon["counts"].astype(np.int64)
            result["ufalcon_s"] = ufalcon["seconds"]
            result["speedup_lightcone_vs_ufalcon"] = ufalcon["seconds"] / t_lc
            result["speedup_snapshot_vs_ufalcon"] = ufalcon["seconds"] / t_snap
            result["ufalcon_count_mismatch_fraction"] = float(np.abs(uf - ours).sum() / ours.sum())
            msg += (
                f"; UFalcon construct_shells {ufalcon['seconds']:.2f} s -> speed-up "
                f"{result['speedup_lightcone_vs_ufalcon']:.1f}x (file), "
                f"{result['speedup_snapshot_vs_ufalcon']:.1f}x (snapshot); counts differ in "
                f"{result['ufalcon_count_mismatch_fraction']:.2e} of particles (float32 radii)"
            )
        else:
            msg += f"; UFalcon skipped ({result['ufalcon_error'][:80]})"
        print(msg, flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cosmo = make_cosmology(omega_m=args.omega_m, sigma8=0.8, radiation=False)
    out = {} if args.skip_pencil else {"pencil_beam": bench_pencil(args, cosmo)}
    if not args.skip_healpix:
        out["healpix"] = bench_healpix(args, cosmo)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
