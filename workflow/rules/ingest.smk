# Ingestion: a simulation's snapshots (any supported code/format) -> canonical HDF5 + manifest.
# One job per simulation (not per snapshot): the redshift series is checked as a whole and the
# paper-scale DAG stays at ~700 ingestion jobs instead of ~35,000.

rule ingest_simulation:
    input:
        ingest_inputs,
    output:
        # temp() unless run.keep_snapshots (common.smk); the manifest always stays
        snapshots=[snapshot_output(str(OUT / "ingested" / "{cosmology}" / "{simulation}" / f"snapshot_{i:03d}.h5"))
                   for i in SNAP_INDICES],
        manifest=str(OUT / "ingested" / "{cosmology}" / "{simulation}" / "manifest.json"),
    params:
        snapshots=lambda wc: [raw_snapshot(wc.cosmology, wc.simulation, i) for i in SNAP_INDICES],
        cosmology=lambda wc: cosmology_params(wc.cosmology),
        redshifts=[float(z) for z in Z_OUT],
        box=lambda wc: box_of(wc.cosmology),
        config=config_subset("ingest_simulation"),
    log:
        str(LOGS / "ingest_simulation" / "{cosmology}_{simulation}.log"),
    benchmark:
        str(BENCH / "ingest_simulation" / "{cosmology}_{simulation}.tsv")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        str(ENVS / "ingest.yaml")
    script:
        "../scripts/ingest_simulation.py"
