# Inference: test-set summaries (SPEC §7) per statistic and cosmology, the observed data vector,
# likelihood + sampling + constraints per analysis (SPEC §8), and the comparison (Fig. 9).
# The power-spectrum baseline never touches the networks (its test surveys use the TensorFlow
# forward model on the fast path, inference.survey_forward_model).


rule test_summaries:
    input:
        maps=lambda wc: test_map_files(wc.cosmology),
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
        model=lambda wc: model_inputs(wc.label),
    output:
        str(OUT / "inference" / "summaries" / "{label}" / "{cosmology}.h5"),
    params:
        config=config_subset("test_summaries"),
        cosmology=lambda wc: cosmology_params(wc.cosmology),
        labels=lambda wc: [wc.label],
    log:
        str(LOGS / "test_summaries" / "{label}_{cosmology}.log"),
    benchmark:
        str(BENCH / "test_summaries" / "{label}_{cosmology}.tsv")
    wildcard_constraints:
        label=NETWORK_PATTERN,
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        str(ENVS / "training.yaml")
    script:
        "../scripts/test_summaries.py"


# The statistics computed from the maps without a network share their simulated surveys: one job
# per cosmology computes them all (the surveys cost far more than the statistics). Their surveys
# need TensorFlow only on the fast path (inference.survey_forward_model: tensorflow).
MAP_SUMMARIES_ENV = (
    "training.yaml"
    if config.get("inference", {}).get("survey_forward_model", "tensorflow") == "tensorflow"
    else "inference.yaml"
)


use rule test_summaries as map_test_summaries with:
    input:
        maps=lambda wc: test_map_files(wc.cosmology),
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
        model=[],
    output:
        [str(OUT / "inference" / "summaries" / label / "{cosmology}.h5") for label in MAP_SUMMARY_LABELS],
    params:
        config=config_subset("test_summaries"),
        cosmology=lambda wc: cosmology_params(wc.cosmology),
        labels=MAP_SUMMARY_LABELS,
    log:
        str(LOGS / "map_test_summaries" / "{cosmology}.log"),
    benchmark:
        str(BENCH / "map_test_summaries" / "{cosmology}.tsv")
    wildcard_constraints:
        cosmology="[^/]+",
    conda:
        str(ENVS / MAP_SUMMARIES_ENV)


rule merge_summaries:
    input:
        lambda wc: [str(OUT / "inference" / "summaries" / wc.label / f"{c}.h5") for c in TEST_COSMOLOGIES],
    output:
        str(OUT / "inference" / "summaries" / "{label}.h5"),
    log:
        str(LOGS / "merge_summaries" / "{label}.log"),
    benchmark:
        str(BENCH / "merge_summaries" / "{label}.tsv")
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/merge_summaries.py"


rule plot_predictions:
    input:
        str(OUT / "inference" / "summaries" / "{network}.h5"),
    output:
        report(str(OUT / "plots" / "predictions_{network}.png"), category="Training",
               subcategory="Predictions vs truth", caption="../report/predictions.rst",
               labels={"network": "{network}"}),
    params:
        seed=config_subset("plot_predictions")["run"]["seed"],
    log:
        str(LOGS / "plot_predictions" / "{network}.log"),
    benchmark:
        str(BENCH / "plot_predictions" / "{network}.tsv")
    wildcard_constraints:
        network="|".join(NETWORKS) or "no-network",
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/plot_predictions.py"


rule data_vector:
    input:
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
        model=lambda wc: model_inputs(wc.label),
    output:
        str(OUT / "inference" / "data" / "{label}.h5"),
    params:
        config=config_subset("data_vector"),
    log:
        str(LOGS / "data_vector" / "{label}.log"),
    benchmark:
        str(BENCH / "data_vector" / "{label}.tsv")
    conda:
        lambda wc: str(ENVS / ("training.yaml" if wc.label in NETWORKS else "inference.yaml"))
    script:
        "../scripts/data_vector.py"


rule constrain:
    input:
        summaries=lambda wc: summaries_file(wc.label),
        data=lambda wc: data_vector_file(wc.label),
    output:
        table=str(OUT / "inference" / "results" / "{label}" / "constraints.json"),
        chain=str(OUT / "inference" / "results" / "{label}" / "chain.h5"),
        traces=report(str(OUT / "inference" / "results" / "{label}" / "chain_traces.png"),
                      category="Constraints", subcategory="Chain traces",
                      caption="../report/chain_traces.rst", labels={"analysis": "{label}"}),
        contours=report(str(OUT / "inference" / "results" / "{label}" / "omega_m_sigma8.png"),
                        category="Constraints", subcategory="Omega_m-sigma8 contours",
                        caption="../report/contours.rst", labels={"analysis": "{label}"}),
        s8_a_ia=report(str(OUT / "inference" / "results" / "{label}" / "s8_a_ia.png"),
                       category="Constraints", subcategory="S8-A_IA contours",
                       caption="../report/s8_a_ia.rst", labels={"analysis": "{label}"}),
    params:
        out_dir=lambda wc: str(OUT / "inference" / "results" / wc.label),
        truth=mock_truth(),
        fixed_covariance=lambda wc: wc.label == "power_spectrum",
        config=config_subset("constrain"),
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


rule eb_null:
    input:
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
    output:
        json=str(OUT / "inference" / "eb_null" / "eb_null.json"),
        plot=report(str(OUT / "inference" / "eb_null" / "eb_null.png"), category="Survey",
                    subcategory="E/B null test", caption="../report/eb_null.rst"),
    params:
        config=config_subset("eb_null"),
    log:
        str(LOGS / "eb_null.log"),
    benchmark:
        str(BENCH / "eb_null.tsv")
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/eb_null.py"


rule coverage:
    input:
        summaries=lambda wc: summaries_file(wc.label),
    output:
        json=str(OUT / "inference" / "coverage" / "{label}" / "coverage.json"),
        plot=report(str(OUT / "inference" / "coverage" / "{label}" / "coverage.png"),
                    category="Calibration", subcategory="Expected coverage",
                    caption="../report/coverage.rst", labels={"analysis": "{label}"}),
        ranks=report(str(OUT / "inference" / "coverage" / "{label}" / "rank_histograms.png"),
                     category="Calibration", subcategory="Rank histograms",
                     caption="../report/rank_histograms.rst", labels={"analysis": "{label}"}),
    params:
        out_dir=lambda wc: str(OUT / "inference" / "coverage" / wc.label),
        config=config_subset("coverage"),
    log:
        str(LOGS / "coverage" / "{label}.log"),
    benchmark:
        str(BENCH / "coverage" / "{label}.tsv")
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/expected_coverage.py"


# The amortized neural posterior estimator of each analysis (issue 13): trained on the analysis'
# simulated surveys (a seeded fraction held out for its calibration), evaluated at the data vector,
# drawn over the likelihood's contours (its grid.h5, written beside the chain by constrain).
rule posterior_estimator:
    input:
        summaries=lambda wc: summaries_file(wc.label),
        data=lambda wc: data_vector_file(wc.label),
        chain=str(OUT / "inference" / "results" / "{label}" / "chain.h5"),
    output:
        json=str(OUT / "inference" / "npe" / "{label}" / "npe.json"),
        grid=str(OUT / "inference" / "npe" / "{label}" / "grid.h5"),
        contours=report(str(OUT / "inference" / "npe" / "{label}" / "omega_m_sigma8.png"),
                        category="Constraints", subcategory="NPE vs likelihood contours",
                        caption="../report/npe_contours.rst", labels={"analysis": "{label}"}),
        coverage=report(str(OUT / "inference" / "npe" / "{label}" / "coverage.png"),
                        category="Calibration", subcategory="NPE expected coverage",
                        caption="../report/npe_coverage.rst", labels={"analysis": "{label}"}),
    params:
        out_dir=lambda wc: str(OUT / "inference" / "npe" / wc.label),
        truth=mock_truth(),
        config=config_subset("posterior_estimator"),
    log:
        str(LOGS / "posterior_estimator" / "{label}.log"),
    benchmark:
        str(BENCH / "posterior_estimator" / "{label}.tsv")
    wildcard_constraints:
        label="|".join(NPE_ANALYSES) or "(?!)",
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        str(ENVS / "training.yaml")
    script:
        "../scripts/npe_posterior.py"


rule compare_constraints:
    input:
        tables=[str(OUT / "inference" / "results" / label / "constraints.json") for label in ANALYSES],
        coverage=[str(OUT / "inference" / "coverage" / label / "coverage.json") for label in ANALYSES],
        chains=[str(OUT / "inference" / "results" / label / "chain.h5") for label in ANALYSES],
    output:
        plot=report(str(OUT / "plots" / "fig9_s8_whisker.png"), category="Constraints", caption="../report/fig9.rst"),
        triangle=report(str(OUT / "plots" / "triangle.png"), category="Constraints",
                        caption="../report/triangle.rst"),
        json=str(OUT / "inference" / "constraints.json"),
        markdown=report(str(OUT / "inference" / "constraints.md"), category="Constraints",
                        caption="../report/constraints.rst"),
    params:
        published=config_subset("compare_constraints").get("inference", {}).get("published_s8", []),
        truth=mock_truth(),
    log:
        str(LOGS / "compare_constraints.log"),
    benchmark:
        str(BENCH / "compare_constraints.tsv")
    conda:
        str(ENVS / "inference.yaml")
    script:
        "../scripts/compare_constraints.py"


if COMBINATIONS:

    rule combine_statistics:
        input:
            summaries=lambda wc: [summaries_file(m) for m in COMBINATIONS[wc.combination]],
            data=lambda wc: [data_vector_file(m) for m in COMBINATIONS[wc.combination]],
        output:
            summaries=str(OUT / "inference" / "combined" / "{combination}" / "summaries.h5"),
            data=str(OUT / "inference" / "combined" / "{combination}" / "data.h5"),
        log:
            str(LOGS / "combine_statistics" / "{combination}.log"),
        benchmark:
            str(BENCH / "combine_statistics" / "{combination}.tsv")
        conda:
            str(ENVS / "inference.yaml")
        script:
            "../scripts/combine_statistics.py"


if MOCKS and "mock" in config["survey"]:

    # Fig. 7: every single statistic on every systematics mock, with the survey's rules
    use rule data_vector as mock_data_vector with:
        input:
            patch_maps=str(OUT / "survey" / "mocks" / "{mock}" / "patch_maps.h5"),
            model=lambda wc: model_inputs(wc.label),
        output:
            str(OUT / "inference" / "mocks" / "{mock}" / "data" / "{label}.h5"),
        log:
            str(LOGS / "mock_data_vector" / "{mock}_{label}.log"),
        benchmark:
            str(BENCH / "mock_data_vector" / "{mock}_{label}.tsv")

    use rule constrain as mock_constrain with:
        input:
            summaries=lambda wc: summaries_file(wc.label),
            data=str(OUT / "inference" / "mocks" / "{mock}" / "data" / "{label}.h5"),
        output:
            table=str(OUT / "inference" / "mocks" / "{mock}" / "results" / "{label}" / "constraints.json"),
        params:
            out_dir=lambda wc: str(OUT / "inference" / "mocks" / wc.mock / "results" / wc.label),
            truth=lambda wc: mock_truth(wc.mock),
            fixed_covariance=lambda wc: wc.label == "power_spectrum",
            config=config_subset("constrain"),
        log:
            str(LOGS / "mock_constrain" / "{mock}_{label}.log"),
        benchmark:
            str(BENCH / "mock_constrain" / "{mock}_{label}.tsv")

    use rule compare_constraints as robustness_plot with:
        input:
            tables=robustness_tables(),
        output:
            plot=report(str(OUT / "plots" / "fig7_robustness.png"), category="Constraints",
                        caption="../report/fig7.rst"),
            json=str(OUT / "inference" / "mocks" / "robustness.json"),
            markdown=str(OUT / "inference" / "mocks" / "robustness.md"),
        params:
            published=[],
            truth=None,
        log:
            str(LOGS / "robustness_plot.log"),
        benchmark:
            str(BENCH / "robustness_plot.tsv")

    # issue 17: every mock x every statistic, the S8 shift from the fiducial (first) mock in units
    # of its 68 % half-width, beside robustness.md
    rule robustness_table:
        input:
            robustness_tables(),
        output:
            json=str(OUT / "inference" / "mocks" / "robustness_shifts.json"),
            markdown=report(str(OUT / "inference" / "mocks" / "robustness_shifts.md"), category="Constraints",
                            caption="../report/robustness_shifts.rst"),
        params:
            mocks=list(MOCKS),
            statistics=SINGLE_STATISTICS,
            truths={m: mock_truth(m) for m in MOCKS},
        log:
            str(LOGS / "robustness_table.log"),
        benchmark:
            str(BENCH / "robustness_table.tsv")
        conda:
            str(ENVS / "inference.yaml")
        script:
            "../scripts/robustness_table.py"
