# Mock simulations (demo stand-in for PkdGrav3): particle-mesh runs written as Gadget-2 files.

# run.keep_snapshots: false (config/science.yaml) marks the raw mock_pm snapshots and the ingested
# ones temp(): Snakemake deletes them once every job reading them has finished, so the disk holds
# only the simulations in flight plus every map. Default true: every snapshot stays (demo, paper).
KEEP_SNAPSHOTS = bool(config["run"].get("keep_snapshots", True))


def snapshot_output(path):
    """A snapshot the workflow writes, as a temp() output unless run.keep_snapshots."""
    return path if KEEP_SNAPSHOTS else temp(path)


if SIM_CFG["code"] == "mock_pm":

    rule mock_simulation:
        output:
            [snapshot_output(str(OUT / "simulations" / "{cosmology}" / "{simulation}" / f"snapshot_{i:03d}"))
             for i in SNAP_INDICES],
        params:
            config=config_subset("mock_simulation"),
            cosmology=lambda wc: cosmology_params(wc.cosmology),
            box=lambda wc: box_of(wc.cosmology),
            redshifts=[float(z) for z in Z_OUT],
        log:
            str(LOGS / "mock_simulation" / "{cosmology}_{simulation}.log"),
        benchmark:
            str(BENCH / "mock_simulation" / "{cosmology}_{simulation}.tsv")
        threads: 1
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            str(ENVS / "simulate.yaml")
        script:
            "../scripts/mock_simulation.py"
