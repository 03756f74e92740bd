# Survey: mock observations (every simulation with role 'mock': systematics mocks, and the
# demo's survey) -> patch shear maps, masks, biases and noise ingredients that training and the
# data vector need -> Fig. 1 plot.

if "mock" in config["survey"]:

    rule mock_observation:
        input:
            maps=lambda wc: mock_map_file(wc.mock),
            nz=config["lensing"]["nz_files"],
        output:
            str(OUT / "survey" / "mocks" / "{mock}" / "catalogue.fits"),
        params:
            config=config_subset("mock_observation"),
            base_dir=lambda wc: workflow.basedir,  # where the config's relative paths point
            lensing=lambda wc: MOCK_LENSING[wc.mock],
            seed_identity=lambda wc: MOCK_SEED_IDENTITY[wc.mock],
        log:
            str(LOGS / "mock_observation" / "{mock}.log"),
        benchmark:
            str(BENCH / "mock_observation" / "{mock}.tsv")
        resources:
            mem_mb=4000,
            runtime=20,
        conda:
            str(ENVS / "survey.yaml")
        script:
            "../scripts/mock_observation.py"


rule survey_patch_maps:
    input:
        survey_catalogues(),
    output:
        maps=str(OUT / "survey" / "patch_maps.h5"),
        table=str(OUT / "survey" / "selection_table.md"),
    params:
        config=config_subset("survey_patch_maps"),
        base_dir=lambda wc: workflow.basedir,  # where the config's relative paths point
    log:
        str(LOGS / "survey_patch_maps.log"),
    benchmark:
        str(BENCH / "survey_patch_maps.tsv")
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        str(ENVS / "survey.yaml")
    script:
        "../scripts/survey_patch_maps.py"


rule plot_survey_maps:
    input:
        str(OUT / "survey" / "patch_maps.h5"),
    output:
        report(str(OUT / "plots" / "fig1_survey_maps.png"), category="Survey", caption="../report/fig1.rst"),
    log:
        str(LOGS / "plot_survey_maps.log"),
    benchmark:
        str(BENCH / "plot_survey_maps.tsv")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        str(ENVS / "survey.yaml")
    script:
        "../scripts/plot_survey_maps.py"


if "mock" in config["survey"]:

    # the systematics mocks' patch maps: the survey's rule on each mock catalogue
    use rule survey_patch_maps as mock_patch_maps with:
        input:
            str(OUT / "survey" / "mocks" / "{mock}" / "catalogue.fits"),
        output:
            maps=str(OUT / "survey" / "mocks" / "{mock}" / "patch_maps.h5"),
            table=str(OUT / "survey" / "mocks" / "{mock}" / "selection_table.md"),
        log:
            str(LOGS / "mock_patch_maps" / "{mock}.log"),
        benchmark:
            str(BENCH / "mock_patch_maps" / "{mock}.tsv")


rule plot_nz:
    input:
        # the bootstrap files are read by pattern (like the map jobs do): their number is a param
        config["lensing"]["nz_files"],
    output:
        report(str(OUT / "plots" / "nz_bootstrap.png"), category="Survey", caption="../report/nz.rst"),
    params:
        lensing=config_subset("plot_nz")["lensing"],
        n_bootstrap=N_NZ_BOOTSTRAP,
    log:
        str(LOGS / "plot_nz.log"),
    benchmark:
        str(BENCH / "plot_nz.tsv")
    conda:
        str(ENVS / "survey.yaml")
    script:
        "../scripts/plot_nz.py"
