# Mock simulations (demo stand-in for PkdGrav3): particle-mesh runs written as Gadget-2 files.

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
