# Shapes (issue 19, optional: shapes.enabled): a CNN shear estimator from galaxy stamps (seed
# paper 002). Simulated stamps -> the Table 2 network -> calibration against GalSim HSM (m, c,
# RMS vs S/N and size) -> the survey mock's galaxies (thinned) rendered as stamps with their
# true shapes, measured, and read by the survey stage like any shear catalogue -> the measured
# shapes compared with the exact ones.

SHAPES = OUT / "shapes"
SHAPE_SETS = {"train": "n_train", "calibration": "n_calibration"}


SHAPES_ENABLED = bool(config.get("shapes", {}).get("enabled", False))
# what the shapes stage produces (rule all asks for these when it is enabled)
SHAPES_TARGETS = []
if SHAPES_ENABLED:
    SHAPES_TARGETS += [str(SHAPES / "calibration" / "calibration.json"), str(OUT / "plots" / "shapes_calibration.png")]
    if "mock" in config.get("survey", {}):
        SHAPES_TARGETS += [str(SHAPES / "mock" / "comparison.json"),
                           str(OUT / "plots" / "shapes_measured_vs_exact.png")]


if SHAPES_ENABLED:

    wildcard_constraints:
        stamp_set="|".join(SHAPE_SETS),
        shapes="exact|measured",

    rule simulate_stamps:
        output:
            str(SHAPES / "stamps" / "{stamp_set}.h5"),
        params:
            config=config_subset("simulate_stamps"),
            n_stamps=lambda wc: config["shapes"][SHAPE_SETS[wc.stamp_set]],
            augment=lambda wc: wc.stamp_set == "train",  # the seed paper augments training stamps only
        log:
            str(LOGS / "simulate_stamps" / "{stamp_set}.log"),
        benchmark:
            str(BENCH / "simulate_stamps" / "{stamp_set}.tsv")
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/simulate_stamps.py"

    rule train_shear_estimator:
        input:
            str(SHAPES / "stamps" / "train.h5"),
        output:
            model=str(SHAPES / "estimator" / "model.keras"),
            history=str(SHAPES / "estimator" / "history.csv"),
        params:
            config=config_subset("train_shear_estimator"),
        log:
            str(LOGS / "train_shear_estimator.log"),
        benchmark:
            str(BENCH / "train_shear_estimator.tsv")
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/train_shear_estimator.py"

    rule calibrate_shear:
        input:
            stamps=str(SHAPES / "stamps" / "calibration.h5"),
            model=str(SHAPES / "estimator" / "model.keras"),
        output:
            json=str(SHAPES / "calibration" / "calibration.json"),
            plot=report(str(OUT / "plots" / "shapes_calibration.png"), category="Shapes"),
        params:
            config=config_subset("calibrate_shear"),
        log:
            str(LOGS / "calibrate_shear.log"),
        benchmark:
            str(BENCH / "calibrate_shear.tsv")
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/calibrate_shear.py"

    rule measure_shapes:
        input:
            stamps=str(SHAPES / "mock" / "stamp_catalogue.h5"),
            model=str(SHAPES / "estimator" / "model.keras"),
            calibration=str(SHAPES / "calibration" / "calibration.json"),
        output:
            str(SHAPES / "mock" / "measured_catalogue.fits"),
        params:
            config=config_subset("measure_shapes"),
        log:
            str(LOGS / "measure_shapes.log"),
        benchmark:
            str(BENCH / "measure_shapes.tsv")
        resources:
            mem_mb=2000,
            runtime=30,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/measure_shapes.py"


if SHAPES_ENABLED and "mock" in config["survey"]:

    rule render_mock_stamps:
        input:
            survey_catalogues(),
        output:
            stamps=str(SHAPES / "mock" / "stamp_catalogue.h5"),
            exact=str(SHAPES / "mock" / "exact_catalogue.fits"),
        params:
            config=config_subset("render_mock_stamps"),
            base_dir=lambda wc: workflow.basedir,  # where the config's relative paths point
        log:
            str(LOGS / "render_mock_stamps.log"),
        benchmark:
            str(BENCH / "render_mock_stamps.tsv")
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/render_mock_stamps.py"

    # the survey stage's own reader and patch maps, on the exact and the measured thinned catalogue
    use rule survey_patch_maps as shapes_patch_maps with:
        input:
            str(SHAPES / "mock" / "{shapes}_catalogue.fits"),
        output:
            maps=str(SHAPES / "mock" / "{shapes}" / "patch_maps.h5"),
            table=str(SHAPES / "mock" / "{shapes}" / "selection_table.md"),
        log:
            str(LOGS / "shapes_patch_maps" / "{shapes}.log"),
        benchmark:
            str(BENCH / "shapes_patch_maps" / "{shapes}.tsv")

    rule compare_shapes:
        input:
            exact=str(SHAPES / "mock" / "exact_catalogue.fits"),
            measured=str(SHAPES / "mock" / "measured_catalogue.fits"),
            exact_maps=str(SHAPES / "mock" / "exact" / "patch_maps.h5"),
            measured_maps=str(SHAPES / "mock" / "measured" / "patch_maps.h5"),
        output:
            json=str(SHAPES / "mock" / "comparison.json"),
            plot=report(str(OUT / "plots" / "shapes_measured_vs_exact.png"), category="Shapes"),
        params:
            config=config_subset("compare_shapes"),
            base_dir=lambda wc: workflow.basedir,  # where the config's relative paths point
        log:
            str(LOGS / "compare_shapes.log"),
        benchmark:
            str(BENCH / "compare_shapes.tsv")
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            str(ENVS / "shapes.yaml")
        script:
            "../scripts/compare_shapes.py"
