# CNN training: one job per network, on the training simulations' maps with the survey forward
# model on the device; test simulations give the validation batch. Checkpoints live outside the
# declared outputs, so a job cut by the time limit (SIGTERM/SIGUSR1 -> checkpoint) or killed
# resumes where it stopped when the rule is rerun.


rule train_network:
    input:
        train=lambda wc: [map_file(s.cosmology.id, s.name) for s in SIMULATIONS if s.role == "train"],
        validation=lambda wc: [map_file(s.cosmology.id, s.name) for s in SIMULATIONS if s.role == "test"],
        patch_maps=str(OUT / "survey" / "patch_maps.h5"),
    output:
        model=str(OUT / "training" / "{network}" / "model.keras"),
        history=str(OUT / "training" / "{network}" / "history.csv"),
    params:
        out_dir=lambda wc: str(OUT / "training" / wc.network),
        checkpoints=lambda wc: str(OUT / "checkpoints" / wc.network),
        # only this network's settings: editing another network's curriculum does not retrain it
        config=lambda wc: training_config(wc.network),
    log:
        str(LOGS / "train_network" / "{network}.log"),
    benchmark:
        str(BENCH / "train_network" / "{network}.tsv")
    threads: TRAINING_RESOURCES.get("cpus_per_task", 2)
    resources:
        gpu=TRAINING_RESOURCES.get("gpus_per_node", 0),
        mem_mb=TRAINING_RESOURCES.get("mem_mb", 16000),
        runtime=TRAINING_RESOURCES.get("runtime_min", 1440),
        # SLURM warns 5 minutes before the time limit: checkpoint, exit, rerun resumes
        slurm_extra="'--signal=USR1@300'",
    conda:
        str(ENVS / "training.yaml")
    script:
        "../scripts/train_network.py"


rule plot_training_loss:
    input:
        [str(OUT / "training" / n / "history.csv") for n in NETWORKS],
    output:
        report(str(OUT / "plots" / "fig11_training_loss.png"), category="Training", caption="../report/fig11.rst"),
    log:
        str(LOGS / "plot_training_loss.log"),
    conda:
        str(ENVS / "training.yaml")
    script:
        "../scripts/plot_training_loss.py"
