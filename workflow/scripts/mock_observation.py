"""Snakemake script: the demo's mock observation, lensed by a held-out simulation's maps."""

import h5py

from wlcnn.logs import setup_rule_logging
from wlcnn.maps.ray_traced import ray_traced_patch_maps
from wlcnn.provenance import file_record
from wlcnn.seeding import rng_for
from wlcnn.survey import SurveySettings, write_mock_observation
from wlcnn.survey.mock_catalogue import nz_tables_from_config

log = setup_rule_logging(snakemake.log[0])
p = snakemake.params
config = p.config
settings = SurveySettings.from_config(config, base_dir=p.base_dir)
with h5py.File(snakemake.input.maps, "r") as fh:
    # One realisation per survey patch: independent 5x5 deg beams of the held-out mock simulation.
    kappa = fh["kappa"][: settings.n_patches]
    kappa_ia = fh["kappa_ia"][: settings.n_patches]
    truth = {"cosmology_id": fh.attrs["cosmology_id"], "simulation": fh.attrs["simulation"]}
gamma = None  # Born: gamma from kappa by Kaiser-Squires
if p.lensing == "ray_tracing":
    # the same shell stacks and Born weights as the Born kappa, traced through every plane;
    # the KS padding makes a single plane reproduce the Born kappa and its KS gamma
    traced = ray_traced_patch_maps(
        snakemake.input.maps, n_realisations=settings.n_patches, padding=settings.ks_padding
    )
    kappa, gamma = traced.kappa, traced.gamma
# the seed depends on the simulation's mock name only: a ray-traced mock of a simulation has the
# same galaxies and intrinsic shapes as its Born mock, so their difference is the lensing alone
seed = int(rng_for(p.config["run"]["seed"], "mock_observation", p.seed_identity).integers(2**62))
galaxies = write_mock_observation(
    snakemake.output[0],
    settings=settings,
    seed=seed,
    kappa=kappa,
    kappa_ia=kappa_ia,
    a_ia=0.0,
    gamma=gamma,
    nz_tables=nz_tables_from_config(config, base_dir=p.base_dir),
    inputs=[file_record(snakemake.input.maps)],
    identity={"rule": "mock_observation", "lensing": p.lensing, **truth},
)
log.info(
    "mock observation of %s (%s lensing): %d galaxies -> %s",
    truth,
    p.lensing,
    len(galaxies.ra),
    snakemake.output[0],
)
