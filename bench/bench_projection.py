"""Benchmark of the shell projection (wlcnn.maps) against a plain numpy version and UFalcon.

Three measurements on the same synthetic snapshot (uniform particles; the cost does not
depend on clustering):

1. Pencil beam (KiDS-450 mode), per shell: the compiled, cell-pre-selected projection
   (``wlcnn.maps.pencil_beam.project_counts``) against the straightforward numpy version that
   transforms and bins every particle for every realisation (``project_counts_numpy``). Both
   give identical counts (checked). Reports particles/s/core (snapshot particles handled per
   second: N x realisations / time), maps/s and the speed-up.
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
from wlcnn.maps.pencil_beam import beam_regions, project_counts, project_counts_numpy
from wlcnn.maps.shells import Shell
from wlcnn.maps.symmetries import draw_transform, identity_transform

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
    p.add_argument("--naive-realisations", type=int, default=3, help="numpy baseline: realisations per shell")
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
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the results here")
    return p


def bench_pencil(args: argparse.Namespace, cosmo) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    n = args.n_particles_1d**3
    pos = rng.uniform(0, args.box, (n, 3)).astype(np.float32)
    t0 = time.perf_counter()
    grid = ParticleGrid.build(pos, box=args.box)
    t_grid = time.perf_counter() - t0
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
        t0 = time.perf_counter()
        fast = [project_counts(grid, shell, geometry, tr) for tr in transforms]
        t_fast = time.perf_counter() - t0
        t_regions = time.perf_counter()
        for tr in transforms:
            beam_regions(shell, geometry, tr, grid)
        t_regions = time.perf_counter() - t_regions
        t0 = time.perf_counter()
        naive = [
            project_counts_numpy(pos, box=args.box, shell=shell, geometry=geometry, transform=tr)
            for tr in transforms[: args.naive_realisations]
        ]
        t_naive = time.perf_counter() - t0
        identical = all(np.array_equal(a[0], b) for a, b in zip(fast, naive, strict=False))
        maps_fast = args.realisations / t_fast
        maps_naive = args.naive_realisations / t_naive
        # The grid is built once per snapshot and serves all (paper: 1000) realisations.
        amortised = 1.0 / (1.0 / maps_fast + t_grid / 1000)
        row = {
            "shell": f"z {z0:.2f}-{z1:.2f} (r {r0:.0f}-{r1:.0f} Mpc/h)",
            "particles": n,
            "box": args.box,
            "n_pix": args.n_pix,
            "in_beam_per_map": float(np.mean([c.sum() for c, _ in fast])),
            "tested_per_map": float(np.mean([t for _, t in fast])),
            "fast_maps_per_s": maps_fast,
            "fast_particles_per_s_core": maps_fast * n,
            "fast_maps_per_s_with_grid_over_1000": amortised,
            "python_overhead_fraction": t_regions / t_fast,
            "naive_maps_per_s": maps_naive,
            "naive_particles_per_s_core": maps_naive * n,
            "speedup": maps_fast / maps_naive,
            "speedup_with_grid_over_1000": amortised / maps_naive,
            "identical_counts": identical,
            "grid_build_s": t_grid,
        }
        results.append(row)
        print(
            f"pencil {row['shell']}: fast {maps_fast:9.1f} maps/s ({maps_fast * n:.3g} particles/s/core), "
            f"numpy {maps_naive:7.3f} maps/s ({maps_naive * n:.3g}), speed-up {row['speedup']:.0f}x "
            f"({row['speedup_with_grid_over_1000']:.0f}x with the grid build over 1000 maps); "
            f"in beam {row['in_beam_per_map']:.3g}, tested {row['tested_per_map']:.3g} per map; "
            f"identical: {identical}",
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
            done = subprocess.run(
                [args.ufalcon_python, "-c", UFALCON_CHILD, json.dumps(spec)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                # UFalcon prints progress without a newline: the result follows a marker.
                ufalcon = json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])
                ufalcon["counts"] = np.load(Path(tmp) / "uf.npy")
                radii = np.asarray(ufalcon["radii"])  # identical shells on both sides
            else:
                result["ufalcon_error"] = done.stderr[-2000:]
                print("UFalcon failed:", done.stderr[-500:], flush=True)
        else:
            result["ufalcon_error"] = "not run (no --ufalcon-python)"
        # Ours from the same file (read included, as in UFalcon).
        shells_from_positions(images[:10], r_edges=radii, nside=args.nside)  # compile
        t0 = time.perf_counter()
        # Memory-mapped records, x y z columns read in place, edges in box units: no copies.
        records = np.memmap(lc_dir / "run.00001.lcp.0", dtype=np.float32, mode="r").reshape(-1, 7)
        ours = shells_from_positions(records[:, :3], r_edges=radii / box, nside=args.nside)
        t_lc = time.perf_counter() - t0
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
    out = {"pencil_beam": bench_pencil(args, cosmo)}
    if not args.skip_healpix:
        out["healpix"] = bench_healpix(args, cosmo)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
