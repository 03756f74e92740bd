# Configuration validation and path helpers shared by every rule file.
# The configuration is validated against workflow/schemas/config.schema.yaml (plus the checks
# a schema cannot express) before anything else: a bad key stops the run here.

import json
import os
from collections import namedtuple
from fnmatch import fnmatch
import shutil
import sys
from pathlib import Path

import yaml
from wlcnn.config import RAY_TRACED_SUFFIX, ConfigError, box_size_mpc_h, fixed_parameters, output_redshifts, validate_config
from wlcnn.grid import read_grid, simulations
from wlcnn.ingest import resolve_snapshot_files
from wlcnn.training.slurm import snakemake_resources

if not config:
    configfile: "config/config.yaml"

_config_source = ", ".join(str(p) for p in (workflow.overwrite_configfiles or [])) or "config/config.yaml"
try:
    validate_config(config, source=_config_source, base_dir=workflow.basedir, check_files=True)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

OUT = Path(config["run"]["output_dir"])
LOGS = OUT / "logs"
BENCH = OUT / "benchmarks"
GRID = read_grid(Path(workflow.basedir) / config["cosmology"]["grid"], prior=config["cosmology"]["prior"])
COSMOLOGIES = {c.id: c for c in GRID}
SIMULATIONS = simulations(GRID)
SIM_CFG = config["simulations"]
Z_OUT = output_redshifts(SIM_CFG["output_redshifts"])
N_SNAP = len(Z_OUT)
SNAP_INDICES = range(N_SNAP)
BOX = box_size_mpc_h(SIM_CFG, h=config["cosmology"]["fixed"]["h"])
# run.keep_snapshots: false (config/science.yaml) marks the raw mock_pm snapshots and the ingested
# ones temp() (simulate.smk, ingest.smk): Snakemake deletes them once every job reading them has
# finished; maps and manifests stay. Default true: every snapshot stays (demo, paper).
KEEP_SNAPSHOTS = bool(config["run"].get("keep_snapshots", True))


def snapshot_output(path):
    """A snapshot the workflow writes, as a temp() output unless run.keep_snapshots."""
    return path if KEEP_SNAPSHOTS else temp(path)


def box_of(cosmology_id):
    """Box side in Mpc/h of a cosmology's simulations (a mock's overridden h matters for box_unit Mpc)."""
    return box_size_mpc_h(SIM_CFG, h=fixed_parameters(config, cosmology_id)["h"])


ENVS = Path(workflow.basedir) / "envs"
# Where the map jobs read their shells: ingested snapshots, or PkdGrav3 light-cone files
# (shells.source: lightcone_healpix | lightcone_particles), which need no ingestion. These keys
# concern the map jobs only (maps_params): SHELLS, the block other rules depend on, leaves them
# out, so that a configuration spelling out the default `source: snapshots` reruns nothing.
_MAPS_SOURCE_KEYS = ("source", "lightcone_edges")
MAPS_SOURCE = config.get("shells", {}).get("source", "snapshots")
SHELLS = {k: v for k, v in config.get("shells", {}).items() if k not in _MAPS_SOURCE_KEYS}
# Shell rules run `python` from the environment that runs Snakemake (the project venv, however
# Snakemake was started), or the rule's conda env with --sdm conda (which comes first on PATH),
# and that environment's MPI launcher when it has one (the mpich wheel). Not a parameter of any
# job, since how Snakemake was invoked must not make results look stale.
# With --sdm conda, Snakemake copies each envs/*.yaml into .snakemake/conda/ before `conda env
# create`, so a relative pip path would point there: the env files install wlcnn from
# ${WLCNN_ROOT} (pip expands environment variables in the requirements conda hands it).
os.environ.update(
    PATH=os.pathsep.join([str(Path(sys.executable).parent), os.getenv("PATH", "")]),
    WLCNN_ROOT=str(Path(workflow.basedir).resolve()),
)
_VENV_MPIEXEC = Path(sys.executable).with_name("mpiexec")
MPIEXEC = str(_VENV_MPIEXEC) if _VENV_MPIEXEC.exists() else (shutil.which("mpiexec") or "mpiexec")
ROLE = {(s.cosmology.id, s.name): s.role for s in SIMULATIONS}
# What each rule's outputs depend on, declared once: every rule's `config` params are cut from
# the configuration by this map (.ci/check_config_dependencies.py checks it against Snakemake).
DEPENDENCIES = yaml.safe_load((Path(workflow.basedir) / "workflow" / "schemas" / "dependencies.yaml").read_text())


def _config_selection(block, path, keep, drop):
    """The part of ``block`` (at dotted ``path``) under a ``keep`` path and not matched by ``drop``."""
    out = {}
    for key, value in block.items():
        here = f"{path}.{key}" if path else str(key)
        if any(fnmatch(here, pattern) for pattern in drop):
            continue
        whole = any(here == p or here.startswith(f"{p}.") for p in keep)
        below = any(p.startswith(f"{here}.") for p in [*keep, *drop])
        if isinstance(value, dict) and below:
            part = _config_selection(value, here, keep, drop)
            if part or whole:
                out[key] = part
        elif whole:
            out[key] = value
    return out


def config_subset(rule_name):
    """The configuration subset ``rule_name``'s outputs depend on (workflow/schemas/dependencies.yaml)."""
    paths = DEPENDENCIES["params"][rule_name]
    keep = [p for p in paths if not p.startswith("~")]
    drop = [p[1:] for p in paths if p.startswith("~")]
    return _config_selection(config, "", keep, drop)



wildcard_constraints:
    cosmology=r"[A-Za-z0-9_-]+",
    label=r"[A-Za-z0-9_]+",
    mock=r"[A-Za-z0-9_-]+",
    simulation=r"sim\d+",


def cosmology_params(cosmology_id):
    """omega_m, sigma8 of a grid entry plus its fixed parameters (what a run of it depends on).

    A mock cosmology's cosmology.mock_overrides (h, omega_b, n_s) replace cosmology.fixed here, so
    its simulation, the ingestion's header checks and its map job all see the same values.
    """
    c = COSMOLOGIES[cosmology_id]
    return {"omega_m": c.omega_m, "sigma8": c.sigma8, **fixed_parameters(config, cosmology_id)}


def raw_snapshot(cosmology, simulation, index):
    """Base name of snapshot ``index`` of a simulation, where the code wrote it."""
    if SIM_CFG["code"] == "mock_pm":
        return str(OUT / "simulations" / cosmology / simulation / f"snapshot_{index:03d}")
    pattern = SIM_CFG["snapshot_pattern"]
    return str(Path(SIM_CFG["directory"]) / pattern.format(cosmology=cosmology, simulation=simulation, snapshot=index))


def ingested_snapshot(cosmology, simulation, index):
    return str(OUT / "ingested" / cosmology / simulation / f"snapshot_{index:03d}.h5")


def manifest(cosmology, simulation):
    return str(OUT / "ingested" / cosmology / simulation / "manifest.json")


def all_manifests():
    return [manifest(s.cosmology.id, s.name) for s in SIMULATIONS]


def ingest_inputs(wc):
    """Raw snapshot files of one simulation (every file of multi-file snapshots)."""
    if SIM_CFG["code"] == "mock_pm":
        return [raw_snapshot(wc.cosmology, wc.simulation, i) for i in SNAP_INDICES]
    files = []
    for i in SNAP_INDICES:
        files.extend(str(p) for p in resolve_snapshot_files(raw_snapshot(wc.cosmology, wc.simulation, i)))
    return files


def map_file(cosmology, simulation):
    return str(OUT / "maps" / cosmology / f"{simulation}.h5")


def lightcone_spec(cosmology, simulation):
    """Where a simulation's light cone is and what reading it needs (light-cone sources)."""
    from wlcnn.maps.lightcone import lightcone_spec_from_config

    return lightcone_spec_from_config(config, cosmology_id=cosmology, simulation=simulation)


def maps_inputs(wc):
    """Input files of a map job: the ingestion manifest, or the raw light-cone files and step table."""
    nz = config["lensing"]["nz_files"]
    if MAPS_SOURCE == "snapshots":
        # every ingested snapshot, not only the manifest: Snakemake does not rerun a job for a
        # missing output nobody asks for, so a new output redshift would otherwise go unnoticed
        snapshots = [ingested_snapshot(wc.cosmology, wc.simulation, i) for i in SNAP_INDICES]
        return {"manifest": manifest(wc.cosmology, wc.simulation), "snapshots": snapshots, "nz": nz}
    from wlcnn.maps.lightcone import lightcone_files

    spec = lightcone_spec(wc.cosmology, wc.simulation)
    try:
        files = [str(f) for f in lightcone_files(spec["prefix"], kind=spec["kind"])]
    except FileNotFoundError:  # let Snakemake report the missing input, named by its pattern
        files = [f"{spec['prefix']}.<step>.{spec['kind']}.<thread>"]
    return {"lightcone": files, "step_redshifts": spec["step_redshifts"], "nz": nz}


def maps_params(cosmology, simulation):
    """JSON for ``python -m wlcnn.maps.mpi --params`` (what the map job depends on; MAPS_SHELL quotes it)."""
    # Snapshot runs: exactly the parameters they had before light cones existed (no rerun).
    subset = config_subset("simulation_maps")
    shells = subset["shells"]
    if MAPS_SOURCE == "snapshots":
        shells = {k: v for k, v in shells.items() if k not in _MAPS_SOURCE_KEYS}
    params = {
        "shells": shells,
        "lensing": subset["lensing"],
        "seed": subset["run"]["seed"],
        "role": ROLE[(cosmology, simulation)],
        "cosmology": cosmology_params(cosmology),
    }
    if MAPS_SOURCE != "snapshots":
        params["lightcone"] = lightcone_spec(cosmology, simulation)
    return json.dumps(params, sort_keys=True)


# The map job's command. Every interpolated value is shell-quoted ({x:q}): paths come from the
# configuration, and a value such as "results/x$(cmd)y" must reach the program as text, never
# run (the schema refuses shell metacharacters in paths too; this is the second line of defence).
MAPS_SHELL = (
    "{resources.mpi:q} -n {resources.tasks:q} python -m wlcnn.maps.mpi --params {params.args:q} "
    + ("--manifest {input.manifest:q} " if MAPS_SOURCE == "snapshots" else "--step-redshifts {input.step_redshifts:q} ")
    + "--out {output:q} --base-dir {params.base_dir:q} --log {log:q}"
)


def maps_memory_mb(wildcards, attempt):
    from wlcnn.maps.plan import map_job_memory_mb

    return map_job_memory_mb(SHELLS, attempt=attempt, source=MAPS_SOURCE, n_particles=SIM_CFG["n_particles_1d"] ** 3,
                             n_shells=N_SNAP, n_bins=len(config["lensing"]["nz_files"]))


def maps_runtime_min(wildcards, attempt):
    from wlcnn.maps.plan import map_job_runtime_min

    # measured cost model (bench/bench_resources.py): paper scale on 8 ranks asks ~10 min
    return map_job_runtime_min(SHELLS, attempt=attempt, source=MAPS_SOURCE, n_particles=SIM_CFG["n_particles_1d"] ** 3,
                               box_mpc_h=BOX, n_shells=N_SNAP)


def validation_map_files():
    """Maps of every simulation, for the Fig. 4 check (each against its own theory)."""
    return [map_file(s.cosmology.id, s.name) for s in SIMULATIONS]


def all_map_files():
    return [map_file(s.cosmology.id, s.name) for s in SIMULATIONS]


MOCKS = {f"{s.cosmology.id}_{s.name}": s for s in SIMULATIONS if s.role == "mock"}
# How each mock observation's shear is made: Born kappa through Kaiser-Squires, or ray traced
# through the same shells (survey.mock.ray_traced: a second observation <name>_rt of the
# simulation, after the grid's mocks, so the first mock stays the survey's)
MOCK_LENSING = {name: "born" for name in MOCKS}
# the simulation whose galaxies a mock observation draws (a ray-traced mock: its Born mock's)
MOCK_SEED_IDENTITY = {name: name for name in MOCKS}
for _name in config.get("survey", {}).get("mock", {}).get("ray_traced", []):
    MOCKS[_name + RAY_TRACED_SUFFIX] = MOCKS[_name]
    MOCK_LENSING[_name + RAY_TRACED_SUFFIX] = "ray_tracing"
    MOCK_SEED_IDENTITY[_name + RAY_TRACED_SUFFIX] = _name

# issue 17: baryonified mocks (survey.mock.baryonified; rules in baryons.smk): mock <name>_bcm<S>
# observes the maps of <name>'s snapshots baryonified at strength S, with <name>'s galaxies
BARYON_SUFFIX = "_bcm"  # spelled out in the rules' path patterns too
# what mock_map_file and mock_truth read of a mock: its cosmology and the name of its maps
BaryonifiedSimulation = namedtuple("BaryonifiedSimulation", ["cosmology", "name", "role"])
BARYON_MOCKS = {}  # mock observation name -> (grid mock name, strength)
for _mock, _strengths in config.get("survey", {}).get("mock", {}).get("baryonified", {}).items():
    for _strength in _strengths:
        _sim = MOCKS[_mock]
        _name = f"{_mock}{BARYON_SUFFIX}{_strength}"
        MOCKS[_name] = BaryonifiedSimulation(_sim.cosmology, f"{_sim.name}{BARYON_SUFFIX}{_strength}", "mock")
        MOCK_LENSING[_name] = "born"
        MOCK_SEED_IDENTITY[_name] = _mock
        BARYON_MOCKS[_name] = (_mock, _strength)


def baryonified_dir(cosmology, simulation, strength):
    """Folder of a simulation's snapshots baryonified at one strength."""
    return OUT / "baryonified" / cosmology / f"{simulation}{BARYON_SUFFIX}{strength}"


def baryon_config(rule_name, strength):
    """What ``rule_name``'s job for one strength depends on: the FoF settings and that strength's parameters."""
    subset = config_subset(rule_name)
    baryons = {k: v for k, v in subset["baryons"].items() if k != "strengths"}
    return {**subset, "baryons": {**baryons, "strengths": {strength: subset["baryons"]["strengths"][strength]}}}


def baryon_targets():
    """The P(k) suppression check of every baryonified simulation (final_targets)."""
    return [str(OUT / "validation" / "baryons" / f"{MOCKS[m].cosmology.id}_{MOCKS[m].name}.json") for m in BARYON_MOCKS]


def baryonified_maps_inputs(wc):
    """Input files of a baryonified simulation's map job (as maps_inputs for ingested snapshots)."""
    folder = baryonified_dir(wc.cosmology, wc.simulation, wc.strength)
    return {
        "manifest": str(folder / "manifest.json"),
        "snapshots": [str(folder / f"snapshot_{i:03d}.h5") for i in SNAP_INDICES],
        "nz": config["lensing"]["nz_files"],
    }


def survey_catalogues():
    """The survey catalogue file(s); with ``survey.mock``, the first mock observation of this run."""
    if "mock" in config["survey"]:
        if not MOCKS:
            raise WorkflowError("survey.mock is set but the grid has no simulation with role 'mock'")
        return [str(OUT / "survey" / "mocks" / next(iter(MOCKS)) / "catalogue.fits")]
    cat = config["survey"]["catalogue"]
    return [cat] if isinstance(cat, str) else list(cat)


def mock_map_file(mock):
    """Maps of a mock-observation simulation (``<cosmology>_<simulation>``)."""
    sim = MOCKS[mock]
    return map_file(sim.cosmology.id, sim.name)


TEST_COSMOLOGIES = [c.id for c in GRID if c.n_sims.get("test")]
NETWORKS = list(config.get("training", {}).get("networks", []))
COMBINATIONS = {c["name"]: list(c["members"]) for c in config.get("inference", {}).get("combinations", [])}
# peak counts and Minkowski functionals of the same patch maps (issue 15), when configured
MAP_STATISTICS = list(config.get("inference", {}).get("map_statistics", []))
# single statistics: those made from one network or one map statistic (Fig. 7 shows each)
SINGLE_STATISTICS = [*NETWORKS, "power_spectrum", *MAP_STATISTICS]
# statistics made from the maps without a network: their test-set summaries come from one job
MAP_SUMMARY_LABELS = ["power_spectrum", *MAP_STATISTICS]
# the label wildcard of the networks' summaries (matches nothing when there is no network)
NETWORK_PATTERN = "|".join(NETWORKS) if NETWORKS else "(?!)"
ANALYSES = [*SINGLE_STATISTICS, *COMBINATIONS] if "inference" in config else []
# analyses with a neural posterior estimator (inference.npe; its `analyses`, else every one)
NPE_ANALYSES = (
    list(config["inference"]["npe"].get("analyses", ANALYSES)) if "npe" in config.get("inference", {}) else []
)


def summaries_file(label):
    """Summary-statistic model of an analysis (a single statistic or a combination)."""
    if label in COMBINATIONS:
        return str(OUT / "inference" / "combined" / label / "summaries.h5")
    return str(OUT / "inference" / "summaries" / f"{label}.h5")


def data_vector_file(label):
    if label in COMBINATIONS:
        return str(OUT / "inference" / "combined" / label / "data.h5")
    return str(OUT / "inference" / "data" / f"{label}.h5")


def test_map_files(cosmology):
    """Map files (with kept shells) of a cosmology's test simulations."""
    return [map_file(s.cosmology.id, s.name) for s in SIMULATIONS if s.cosmology.id == cosmology and s.role == "test"]


TRAINING_RESOURCES = dict(config.get("training", {}).get("resources", {}))


def training_config(network):
    """The configuration one network's training depends on (its Snakemake params).

    Only this network's curriculum and mixture_components: editing another network's does not
    retrain it.
    """
    subset = config_subset("train_network")
    training = dict(subset["training"])
    training["networks"] = [network]
    training["curriculum"] = {network: training.get("curriculum", {}).get(network, [])}
    # likewise its head's K only (absent for K = 1: such a network's params are as before the key)
    components = training.pop("mixture_components", None) or {}
    if components.get(network, 1) != 1:
        training["mixture_components"] = {network: components[network]}
    return {**subset, "training": training}


def trained_model(network):
    return str(OUT / "training" / network / "model.keras")


def model_inputs(label):
    """The trained network a statistic needs (none for the power spectrum and map statistics)."""
    return [trained_model(label)] if label in NETWORKS else []



def mock_truth(mock=None):
    """(Omega_m, sigma8, A_IA) of a mock observation (default: the survey's), None for real data."""
    if "mock" not in config.get("survey", {}) or not MOCKS:
        return None
    cosmo = MOCKS[mock or next(iter(MOCKS))].cosmology
    return [cosmo.omega_m, cosmo.sigma8, 0.0]


def robustness_tables():
    """Constraints of every single statistic on every mock observation (Fig. 7)."""
    return [str(OUT / "inference" / "mocks" / m / "results" / label / "constraints.json")
            for m in MOCKS for label in SINGLE_STATISTICS]


# bootstrap n(z) realisations drawn in the n(z) plot (the test set uses them all)
N_NZ_BOOTSTRAP = int(config.get("lensing", {}).get("n_nz_bootstrap", 0)) if "nz_bootstrap_pattern" in config.get("lensing", {}) else 0



# Map-set comparisons (statistics.smk), by name
COMPARE_PAIRS = {p["name"]: p for p in config.get("statistics", {}).get("compare", [])}


def compare_map_inputs(name):
    """Map files of the two sets of a comparison."""
    pair = COMPARE_PAIRS[name]
    return {side: map_file(pair[side]["cosmology"], pair[side]["simulation"]) for side in ("a", "b")}


def compare_config(name):
    """What one comparison depends on: the run's seed, the statistics settings and its own pair only."""
    subset = config_subset("compare_maps")
    statistics = {k: v for k, v in subset.get("statistics", {}).items() if k != "compare"}
    return {**subset, "statistics": {**statistics, "compare": [COMPARE_PAIRS[name]]}}


# GAN emulator (emulator.smk, issue 18): cosmologies with a training and a test simulation
EMULATOR = "emulator" in config and "lensing" in config and "shells" in config
EMULATOR_COSMOLOGIES = [c.id for c in GRID if c.n_sims.get("train") and c.n_sims.get("test")]
# figures of validate_emulator, by output key (wlcnn.emulator.pipeline.VALIDATION_FILES)
EMULATOR_FIGURES = {
    "samples": "samples.png",
    "pvalues_summary": "pvalues_summary.png",
    "memorisation": "memorisation.png",
    "interpolation": "latent_interpolation.png",
    "bands": "heldout_bands.png",
    "pvalues": "heldout_pvalues.png",
    "correlation": "heldout_correlation_difference.png",
}


def _first_sim(cosmology, role):
    return next(map_file(s.cosmology.id, s.name) for s in SIMULATIONS if s.cosmology.id == cosmology and s.role == role)


def emulator_train_inputs(wc):
    """Training maps of every emulated cosmology (the held-out ones are dropped by the job) and the test
    maps whose first part is the development set of model selection."""
    return {**{f"train_{c}": _first_sim(c, "train") for c in EMULATOR_COSMOLOGIES},
            **{f"dev_{c}": _first_sim(c, "test") for c in EMULATOR_COSMOLOGIES}}


def emulator_validate_inputs(wc):
    """Test maps (the rest after the development set is validated) and training maps (memorisation)."""
    return {**{f"test_{c}": _first_sim(c, "test") for c in EMULATOR_COSMOLOGIES},
            **{f"train_{c}": _first_sim(c, "train") for c in EMULATOR_COSMOLOGIES}}


def emulator_benchmark_files():
    """Benchmark files of the simulation + projection path of every simulation (its cost per map)."""
    return [str(BENCH / rule / f"{s.cosmology.id}_{s.name}.tsv")
            for s in SIMULATIONS for rule in ("mock_simulation", "ingest_simulation", "simulation_maps")]


def final_targets():
    """Everything the implemented stages produce (the default target of the Snakefile)."""
    targets = all_manifests() if MAPS_SOURCE == "snapshots" else []  # light cones need no ingestion
    if "lensing" in config and "shells" in config:
        targets += all_map_files()
        targets.append(str(OUT / "plots" / "fig4_power_spectrum_validation.png"))
        # map-statistics comparisons (statistics.smk)
        targets += [str(OUT / "statistics" / "compare" / p["name"] / "comparison.json")
                    for p in config.get("statistics", {}).get("compare", [])]
    if EMULATOR:
        targets += [str(OUT / "emulator" / "validation.json"), str(OUT / "emulator" / "plots" / "training_loss.png")]
    if "survey" in config:
        targets += [str(OUT / "survey" / "patch_maps.h5"), str(OUT / "plots" / "fig1_survey_maps.png")]
    if "lensing" in config and "nz_files" in config["lensing"]:
        targets.append(str(OUT / "plots" / "nz_bootstrap.png"))
    if NETWORKS:
        targets.append(str(OUT / "plots" / "fig11_training_loss.png"))
        if "inference" in config:
            targets += [str(OUT / "plots" / f"predictions_{n}.png") for n in NETWORKS]
    if ANALYSES:
        targets += [str(OUT / "inference" / "constraints.md"), str(OUT / "plots" / "fig9_s8_whisker.png")]
        targets += [str(OUT / "inference" / "npe" / label / "npe.json") for label in NPE_ANALYSES]
        if "survey" in config:
            targets.append(str(OUT / "inference" / "eb_null" / "eb_null.json"))
        if MOCKS and "mock" in config.get("survey", {}):
            targets += [str(OUT / "plots" / "fig7_robustness.png"),
                        str(OUT / "inference" / "mocks" / "robustness_shifts.json")]
    targets += baryon_targets()  # baryons.smk: the P(k) suppression checks
    return targets
