# CNN training: one job per network, on the training simulations' maps with the survey forward
# model on the device; test simulations give the validation batch. Checkpoints live outside the
# declared outputs, so a job cut by the time limit (SIGTERM/SIGUSR1 -> checkpoint) or killed
# resumes where it stopped when the rule is rerun.


# What the job asks SLURM for: every field of training.resources (wlcnn.training.slurm). With
# more than one task (nodes x tasks_per_node) the command runs under srun, one worker per task,
# and the workers train as one MultiWorkerMirroredStrategy (wlcnn.training.distribute).
try:
    TRAIN_JOB = snakemake_resources(TRAINING_RESOURCES, source=_config_source)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
# Every interpolated value is shell-quoted ({x:q}); the srun line (or "") is one quoted word that
# the entry point splits and runs itself under.
TRAIN_SHELL = (
    "python -m wlcnn.training.job --launcher={resources.launcher:q} --params {params.args:q} "
    "--network {wildcards.network:q} "
    "--train {input.train:q} --validation {input.validation:q} --patch-maps {input.patch_maps:q} "
    "--out-dir {params.out_dir:q} --checkpoints {params.checkpoints:q} --log {log:q}"
)


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
        args=lambda wc: json.dumps(training_config(wc.network), sort_keys=True),
    log:
        str(LOGS / "train_network" / "{network}.log"),
    benchmark:
        str(BENCH / "train_network" / "{network}.tsv")
    threads: TRAIN_JOB["cpus_per_task"]
    # the longest job and the critical path: start it before the map statistics' summaries,
    # which can run beside it (the science run started it only after 19 of them)
    priority: 50
    resources:
        # SLURM warns (slurm_extra: --signal=USR1) 5 minutes before the time limit: checkpoint,
        # exit, rerun resumes
        **TRAIN_JOB,
    conda:
        str(ENVS / "training.yaml")
    shell:
        TRAIN_SHELL


rule plot_training_loss:
    input:
        [str(OUT / "training" / n / "history.csv") for n in NETWORKS],
    output:
        report(str(OUT / "plots" / "fig11_training_loss.png"), category="Training", caption="../report/fig11.rst"),
    log:
        str(LOGS / "plot_training_loss.log"),
    benchmark:
        str(BENCH / "plot_training_loss.tsv")
    conda:
        str(ENVS / "training.yaml")
    script:
        "../scripts/plot_training_loss.py"
