# GAN emulator of convergence maps (issue 18; wlcnn.emulator): a DCGAN generator conditioned on
# (Omega_m, sigma8), trained on the training simulations' maps of every grid cosmology but the
# held-out ones (emulator.holdout), the checkpoint selected by its power spectra on a development
# set; then validated against held-out test maps with the map statistics of statistics.smk.
# Checkpoints live outside the declared outputs, so a rerun resumes.

if EMULATOR:

    rule train_emulator:
        input:
            unpack(emulator_train_inputs),
        output:
            generator=str(OUT / "emulator" / "generator.keras"),
            emulator=str(OUT / "emulator" / "emulator.json"),
            history=str(OUT / "emulator" / "history.csv"),
            loss_plot=report(str(OUT / "emulator" / "plots" / "training_loss.png"), category="Emulator",
                             caption="../report/emulator.rst"),
        params:
            config=lambda wc: config_subset("train_emulator"),
            checkpoints=str(OUT / "checkpoints" / "emulator"),
        log:
            str(LOGS / "train_emulator.log"),
        benchmark:
            str(BENCH / "train_emulator.tsv")
        threads: 2
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            str(ENVS / "training.yaml")
        script:
            "../scripts/train_emulator.py"

    rule validate_emulator:
        input:
            unpack(emulator_validate_inputs),
            generator=str(OUT / "emulator" / "generator.keras"),
            emulator=str(OUT / "emulator" / "emulator.json"),
        output:
            json=str(OUT / "emulator" / "validation.json"),
            report=str(OUT / "emulator" / "report.md"),
            **{k: report(str(OUT / "emulator" / "plots" / v), category="Emulator", caption="../report/emulator.rst")
               for k, v in EMULATOR_FIGURES.items()},
        params:
            config=lambda wc: config_subset("validate_emulator"),
            # the simulation + projection path's measured cost (read if present, not an input:
            # a benchmark file is no job's output)
            benchmarks=emulator_benchmark_files(),
            n_simulated_maps=len(SIMULATIONS) * int(config["shells"]["n_realisations"]),
        log:
            str(LOGS / "validate_emulator.log"),
        benchmark:
            str(BENCH / "validate_emulator.tsv")
        threads: 2
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            str(ENVS / "training.yaml")
        script:
            "../scripts/validate_emulator.py"
