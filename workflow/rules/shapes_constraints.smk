# Issue 19, the last item: constraints from measured shapes against those from exact shapes.
# Both go through the main analysis path (data vector from patch maps, then constrain with the
# survey's simulations). So that both carry the noise the simulations' covariance was built for,
# the "exact" catalogue is the survey mock itself (its constraints are the main analysis') and
# the "measured" one is the same catalogue with the rendered galaxies' shapes replaced by their
# calibrated CNN measurements (wlcnn.shapes.merge); shapes.constraints.analyses lists which
# analyses (single statistics) are compared.

SHAPE_CONSTRAINTS = config.get("shapes", {}).get("constraints", {})
SHAPE_ANALYSES = list(SHAPE_CONSTRAINTS.get("analyses", []))
SHAPES_SURVEY = SHAPES / "mock" / "measured_survey"  # the merged catalogue and everything made from it

# (validate_config has checked that the analyses are single statistics of this run)
if SHAPES_ENABLED and "mock" in config["survey"] and SHAPE_ANALYSES:
    SHAPES_TARGETS += [str(SHAPES / "mock" / "constraints_comparison.json"),
                       str(OUT / "plots" / "shapes_constraints.png")]

    rule merge_measured_shapes:
        input:
            catalogue=survey_catalogues()[0],
            measured=str(SHAPES / "mock" / "measured_catalogue.fits"),
        output:
            str(SHAPES_SURVEY / "catalogue.fits"),
        params:
            config=config_subset("merge_measured_shapes"),
        log:
            str(LOGS / "merge_measured_shapes.log"),
        benchmark:
            str(BENCH / "merge_measured_shapes.tsv")
        resources:
            mem_mb=4000,
            runtime=10,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/merge_measured_shapes.py"

    # the survey stage's patch maps, data vectors and constraints, on the merged catalogue
    use rule survey_patch_maps as shapes_survey_patch_maps with:
        input:
            str(SHAPES_SURVEY / "catalogue.fits"),
        output:
            maps=str(SHAPES_SURVEY / "patch_maps.h5"),
            table=str(SHAPES_SURVEY / "selection_table.md"),
        log:
            str(LOGS / "shapes_survey_patch_maps.log"),
        benchmark:
            str(BENCH / "shapes_survey_patch_maps.tsv")

    use rule data_vector as shapes_data_vector with:
        input:
            patch_maps=str(SHAPES_SURVEY / "patch_maps.h5"),
            model=lambda wc: model_inputs(wc.label),
        output:
            str(SHAPES_SURVEY / "data" / "{label}.h5"),
        log:
            str(LOGS / "shapes_data_vector" / "{label}.log"),
        benchmark:
            str(BENCH / "shapes_data_vector" / "{label}.tsv")

    use rule constrain as shapes_constrain with:
        input:
            summaries=lambda wc: summaries_file(wc.label),
            data=str(SHAPES_SURVEY / "data" / "{label}.h5"),
        output:
            table=str(SHAPES_SURVEY / "results" / "{label}" / "constraints.json"),
        params:
            out_dir=lambda wc: str(SHAPES_SURVEY / "results" / wc.label),
            truth=mock_truth(),
            fixed_covariance=lambda wc: wc.label == "power_spectrum",
            config=config_subset("constrain"),
        log:
            str(LOGS / "shapes_constrain" / "{label}.log"),
        benchmark:
            str(BENCH / "shapes_constrain" / "{label}.tsv")

    rule compare_shape_constraints:
        input:
            exact=[str(OUT / "inference" / "results" / a / "constraints.json") for a in SHAPE_ANALYSES],
            measured=[str(SHAPES_SURVEY / "results" / a / "constraints.json") for a in SHAPE_ANALYSES],
            merged=str(SHAPES_SURVEY / "catalogue.fits"),
        output:
            json=str(SHAPES / "mock" / "constraints_comparison.json"),
            markdown=report(str(SHAPES / "mock" / "constraints_comparison.md"), category="Shapes"),
            plot=report(str(OUT / "plots" / "shapes_constraints.png"), category="Shapes"),
        params:
            config=config_subset("compare_shape_constraints"),
        log:
            str(LOGS / "compare_shape_constraints.log"),
        benchmark:
            str(BENCH / "compare_shape_constraints.tsv")
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/compare_shape_constraints.py"
