# Issue 17: baryonic-feedback mocks. survey.mock.baryonified names grid mock simulations and
# strengths of baryons.strengths; each pair's snapshots go through the baryonic correction model
# (Schneider & Teyssier 2015, around friends-of-friends haloes) into canonical files of their own,
# then through the usual map -> mock observation -> constraints path as mock <name>_bcm<strength>.
# The baryonified manifest keeps the original simulation's identity, and the mock observation
# draws the original mock's galaxies: the S8 shift in the robustness table is the baryons' alone.
# Included after maps.smk (baryonified_maps is its rule) and before survey.smk / inference.smk,
# which read MOCKS.

from collections import namedtuple

BARYON_SUFFIX = "_bcm"
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
    return OUT / "baryonified" / cosmology / f"{simulation}{BARYON_SUFFIX}{strength}"


def baryon_config(rule_name, strength):
    """What ``rule_name``'s job for one strength depends on: the FoF settings and that strength's parameters."""
    subset = config_subset(rule_name)
    baryons = {k: v for k, v in subset["baryons"].items() if k != "strengths"}
    return {**subset, "baryons": {**baryons, "strengths": {strength: subset["baryons"]["strengths"][strength]}}}


def baryon_targets():
    """The P(k) suppression check of every baryonified simulation (final_targets)."""
    return [str(OUT / "validation" / "baryons" / f"{MOCKS[m].cosmology.id}_{MOCKS[m].name}.json") for m in BARYON_MOCKS]


wildcard_constraints:
    strength=r"[A-Za-z0-9]+",


rule baryonify_snapshot:
    input:
        manifest=lambda wc: manifest(wc.cosmology, wc.simulation),
        snapshots=lambda wc: [ingested_snapshot(wc.cosmology, wc.simulation, i) for i in SNAP_INDICES],
    output:
        snapshots=[str(OUT / "baryonified" / "{cosmology}" / ("{simulation}" + BARYON_SUFFIX + "{strength}") / f"snapshot_{i:03d}.h5")
                   for i in SNAP_INDICES],
        manifest=str(OUT / "baryonified" / "{cosmology}" / ("{simulation}" + BARYON_SUFFIX + "{strength}") / "manifest.json"),
    params:
        config=lambda wc: baryon_config("baryonify_snapshot", wc.strength),
        strength=lambda wc: wc.strength,
        checksum=config["ingest"].get("checksum", "sha256"),
    log:
        str(LOGS / "baryonify_snapshot" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.log")),
    benchmark:
        str(BENCH / "baryonify_snapshot" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.tsv"))
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        str(ENVS / "ingest.yaml")
    script:
        "../scripts/baryonify_snapshot.py"


def _baryonified_maps_inputs(wc):
    folder = baryonified_dir(wc.cosmology, wc.simulation, wc.strength)
    return {
        "manifest": str(folder / "manifest.json"),
        "snapshots": [str(folder / f"snapshot_{i:03d}.h5") for i in SNAP_INDICES],
        "nz": config["lensing"]["nz_files"],
    }


if BARYON_MOCKS:

    # the map job of a baryonified simulation: the original's settings, role and seeds
    use rule simulation_maps as baryonified_maps with:
        input:
            unpack(_baryonified_maps_inputs),
        output:
            str(OUT / "maps" / "{cosmology}" / ("{simulation}" + BARYON_SUFFIX + "{strength}.h5")),
        params:
            args=lambda wc: maps_params(wc.cosmology, wc.simulation),
            base_dir=lambda wc: workflow.basedir,
        log:
            str(LOGS / "simulation_maps" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.log")),
        benchmark:
            str(BENCH / "simulation_maps" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.tsv"))


rule baryon_power_validation:
    input:
        original=lambda wc: ingested_snapshot(wc.cosmology, wc.simulation, N_SNAP - 1),
        baryonified=str(OUT / "baryonified" / "{cosmology}" / ("{simulation}" + BARYON_SUFFIX + "{strength}")
                        / f"snapshot_{N_SNAP - 1:03d}.h5"),
    output:
        json=str(OUT / "validation" / "baryons" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.json")),
        plot=report(str(OUT / "plots" / "baryons" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}_pk_suppression.png")),
                    category="Maps"),
    params:
        config=lambda wc: baryon_config("baryon_power_validation", wc.strength),
        strength=lambda wc: wc.strength,
    log:
        str(LOGS / "baryon_power_validation" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.log")),
    benchmark:
        str(BENCH / "baryon_power_validation" / ("{cosmology}_{simulation}" + BARYON_SUFFIX + "{strength}.tsv"))
    resources:
        mem_mb=4000,
        runtime=20,
    conda:
        str(ENVS / "maps.yaml")
    script:
        "../scripts/baryon_power_validation.py"
