# Shell projection and Born maps: one MPI job per (cosmology, simulation), realisations split
# over the ranks (output byte-identical for any number of ranks), then the Fig. 4 check.
# shells.source picks the input: the ingestion manifest (snapshots), or the raw PkdGrav3
# light-cone files (.hpb / .lcp) and the run's step table, with no ingestion.


rule simulation_maps:
    input:
        unpack(maps_inputs),
    output:
        str(OUT / "maps" / "{cosmology}" / "{simulation}.h5"),
    params:
        args=lambda wc: maps_params(wc.cosmology, wc.simulation),
        base_dir=lambda wc: workflow.basedir,  # where the config's relative paths point
    log:
        str(LOGS / "simulation_maps" / "{cosmology}_{simulation}.log"),
    benchmark:
        str(BENCH / "simulation_maps" / "{cosmology}_{simulation}.tsv")
    threads: SHELLS["mpi_tasks"]
    resources:
        mpi=MPIEXEC,
        tasks=SHELLS["mpi_tasks"],
        cpus_per_task=1,  # one core per MPI rank (threads: above only reserves local cores)
        mem_mb=maps_memory_mb,
        runtime=maps_runtime_min,
    conda:
        str(ENVS / "maps.yaml")
    shell:
        MAPS_SHELL


rule maps_power_spectrum_validation:
    input:
        validation_map_files(),
    output:
        plot=report(str(OUT / "plots" / "fig4_power_spectrum_validation.png"), category="Maps",
                    caption="../report/fig4.rst"),
        json=str(OUT / "validation" / "power_spectrum.json"),
    params:
        config=config_subset("maps_power_spectrum_validation"),
        base_dir=lambda wc: workflow.basedir,  # where the config's relative paths point
    log:
        str(LOGS / "maps_power_spectrum_validation.log"),
    benchmark:
        str(BENCH / "maps_power_spectrum_validation.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        str(ENVS / "maps.yaml")
    script:
        "../scripts/maps_validation.py"
