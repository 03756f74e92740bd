"""Snakemake script: a network's test-set predictions against the true parameters.

Per (cosmology, A_IA) grid value: the mean of the survey-averaged predictions with the scatter of
the predictions and, beside it, the network's mean predicted σ (``predicted_sigma`` of the
summaries file; an older file without it is plotted with the scatter only, and the legend says so).
"""

import numpy as np

from wlcnn.inference.summaries import read_summaries
from wlcnn.logs import setup_rule_logging
from wlcnn.provenance import write_rendered_sidecars
from wlcnn.training.loss import A_IA_SCALE
from wlcnn.training.plots import plot_predictions_vs_truth

log = setup_rule_logging(snakemake.log[0])
s = read_summaries(snakemake.input[0])
n_c, n_a, n_s, _ = s.predictions.shape
# truth per survey: the grid node's (Omega_m, sigma8) and the A_IA the survey was made with
truth = np.stack(
    np.broadcast_arrays(
        s.omega_m[:, None, None], s.sigma8[:, None, None], s.a_ia[None, :, None], np.zeros((n_c, n_a, n_s))
    )[:3],
    axis=-1,
).reshape(-1, 3)
# the network predicts A_IA / A_IA_SCALE (training.loss)
to_parameters = np.array([1.0, 1.0, A_IA_SCALE])
prediction = s.predictions[..., :3].reshape(-1, 3) * to_parameters
sigma = None if s.predicted_sigma is None else s.predicted_sigma[..., :3].reshape(-1, 3) * to_parameters
# one group per (cosmology, A_IA) grid value: its surveys share their truth
groups = np.broadcast_to(np.arange(n_c * n_a).reshape(n_c, n_a, 1), (n_c, n_a, n_s)).reshape(-1)
plot_predictions_vs_truth(
    snakemake.output[0],
    truth=truth,
    prediction=prediction,
    sigma=sigma,
    groups=groups,
    names=["omega_m", "sigma8", "a_ia"],
    labels=[r"\Omega_{\rm m}", r"\sigma_8", r"A_{\rm IA}"],
    title=f"{snakemake.wildcards.network}: survey-averaged predictions on the test set",
    seed=int(snakemake.params.seed),
)
write_rendered_sidecars(list(snakemake.output), sources=list(snakemake.input), step="plot_predictions")
log.info(
    "%s: %d test surveys drawn, %s",
    snakemake.wildcards.network,
    len(truth),
    "no predicted sigma in the summaries file" if sigma is None else "with the mean predicted sigma",
)
