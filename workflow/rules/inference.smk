# Inference: test-set summaries (SPEC §7) per statistic and cosmology, the observed data vector,
# likelihood + sampling + constraints per analysis (SPEC §8), and the comparison (Fig. 9).
# The power-spectrum baseline never touches TensorFlow or the networks.


rule test_summaries:
    input:
        maps=lambda wc: test_map_files(wc.cosmology),
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
        model=lambda wc: model_inputs(wc.label),
    output:
        str(OUT / "inference" / "summaries" / "{label}" / "{cosmology}.h5"),
    params:
        cosmology=lambda wc: cosmology_params(wc.cosmology),
    log:
        str(LOGS / "test_summaries" / "{label}_{cosmology}.log"),
    benchmark:
        str(BENCH / "test_summaries" / "{label}_{cosmology}.tsv")
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        lambda wc: str(ENVS / ("inference.yaml" if wc.label == "power_spectrum" else "training.yaml"))
    script:
        "../scripts/test_summaries.py"


rule merge_summaries:
    input:
        lambda wc: [str(OUT / "inference" / "summaries" / wc.label / f"{c}.h5") for c in TEST_COSMOLOGIES],
    output:
        str(OUT / "inference" / "summaries" / "{label}.h5"),
    log:
        str(LOGS / "merge_summaries" / "{label}.log"),
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/merge_summaries.py"


rule data_vector:
    input:
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
        model=lambda wc: model_inputs(wc.label),
    output:
        str(OUT / "inference" / "data" / "{label}.h5"),
    log:
        str(LOGS / "data_vector" / "{label}.log"),
    conda:
        lambda wc: str(ENVS / ("inference.yaml" if wc.label == "power_spectrum" else "training.yaml"))
    script:
        "../scripts/data_vector.py"


rule constrain:
    input:
        summaries=str(OUT / "inference" / "summaries" / "{label}.h5"),
        data=str(OUT / "inference" / "data" / "{label}.h5"),
    output:
        table=str(OUT / "inference" / "results" / "{label}" / "constraints.json"),
    params:
        out_dir=lambda wc: str(OUT / "inference" / "results" / wc.label),
        truth=mock_truth(),
        fixed_covariance=lambda wc: wc.label == "power_spectrum",
        inference=config["inference"],
    log:
        str(LOGS / "constrain" / "{label}.log"),
    benchmark:
        str(BENCH / "constrain" / "{label}.tsv")
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/constrain.py"


rule compare_constraints:
    input:
        [str(OUT / "inference" / "results" / label / "constraints.json") for label in ANALYSES],
    output:
        plot=report(str(OUT / "plots" / "fig9_s8_whisker.png"), category="Constraints", caption="../report/fig9.rst"),
        json=str(OUT / "inference" / "constraints.json"),
        markdown=str(OUT / "inference" / "constraints.md"),
    params:
        published=config["inference"].get("published_s8", []),
        truth=mock_truth(),
    log:
        str(LOGS / "compare_constraints.log"),
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/compare_constraints.py"
