# Issue 17: baryonic-feedback mocks. survey.mock.baryonified names grid mock simulations and
# strengths of baryons.strengths; each pair's snapshots go through the baryonic correction model
# (Schneider & Teyssier 2015, around friends-of-friends haloes) into canonical files of their own,
# then through the usual map -> mock observation -> constraints path as mock <name>_bcm<strength>.
# The baryonified manifest keeps the original simulation's identity, and the mock observation
# draws the original mock's galaxies: the S8 shift in the robustness table is the baryons' alone.
# The baryonified mocks are registered in MOCKS by common.smk (BARYON_MOCKS); this file is
# included after maps.smk, whose simulation_maps rule baryonified_maps reuses.

wildcard_constraints:
    strength=r"[A-Za-z0-9]+",


rule baryonify_snapshot:
    input:
        manifest=lambda wc: manifest(wc.cosmology, wc.simulation),
        snapshots=lambda wc: [ingested_snapshot(wc.cosmology, wc.simulation, i) for i in SNAP_INDICES],
    output:
        snapshots=[str(OUT / "baryonified" / "{cosmology}" / "{simulation}_bcm{strength}" / f"snapshot_{i:03d}.h5")
                   for i in SNAP_INDICES],
        manifest=str(OUT / "baryonified" / "{cosmology}" / "{simulation}_bcm{strength}" / "manifest.json"),
    params:
        config=lambda wc: baryon_config("baryonify_snapshot", wc.strength),
        strength=lambda wc: wc.strength,
        checksum=config["ingest"].get("checksum", "sha256"),
    log:
        str(LOGS / "baryonify_snapshot" / "{cosmology}_{simulation}_bcm{strength}.log"),
    benchmark:
        str(BENCH / "baryonify_snapshot" / "{cosmology}_{simulation}_bcm{strength}.tsv")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        # the maps family: scipy (friends-of-friends), pyccl (the halo model)
        str(ENVS / "maps.yaml")
    script:
        "../scripts/baryonify_snapshot.py"


if BARYON_MOCKS:

    # the map job of a baryonified simulation: the original's settings, role and seeds
    use rule simulation_maps as baryonified_maps with:
        input:
            unpack(baryonified_maps_inputs),
        output:
            str(OUT / "maps" / "{cosmology}" / "{simulation}_bcm{strength}.h5"),
        params:
            args=lambda wc: maps_params(wc.cosmology, wc.simulation),
            base_dir=lambda wc: workflow.basedir,
        log:
            str(LOGS / "simulation_maps" / "{cosmology}_{simulation}_bcm{strength}.log"),
        benchmark:
            str(BENCH / "simulation_maps" / "{cosmology}_{simulation}_bcm{strength}.tsv")


rule baryon_power_validation:
    input:
        original=lambda wc: ingested_snapshot(wc.cosmology, wc.simulation, N_SNAP - 1),
        baryonified=str(OUT / "baryonified" / "{cosmology}" / "{simulation}_bcm{strength}"
                        / f"snapshot_{N_SNAP - 1:03d}.h5"),
    output:
        json=str(OUT / "validation" / "baryons" / "{cosmology}_{simulation}_bcm{strength}.json"),
        plot=report(str(OUT / "plots" / "baryons" / "{cosmology}_{simulation}_bcm{strength}_pk_suppression.png"),
                    category="Maps"),
    params:
        config=lambda wc: baryon_config("baryon_power_validation", wc.strength),
        strength=lambda wc: wc.strength,
    log:
        str(LOGS / "baryon_power_validation" / "{cosmology}_{simulation}_bcm{strength}.log"),
    benchmark:
        str(BENCH / "baryon_power_validation" / "{cosmology}_{simulation}_bcm{strength}.tsv")
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        str(ENVS / "maps.yaml")
    script:
        "../scripts/baryon_power_validation.py"
