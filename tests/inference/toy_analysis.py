"""The linear toy analysis two test modules run through ``constrain`` (blinding, chain export)."""

from __future__ import annotations

import numpy as np

from wlcnn.inference.summaries import DataVector, Summaries
from wlcnn.inference.toy import default_toy

#: (Ωm, σ8, A_IA) of the toy's observed data vector.
TRUTH = (0.3, 0.8, 0.0)


def toy_inputs() -> tuple[Summaries, DataVector]:
    """Summaries on a 5 × 6 (Ωm, σ8) grid × 5 A_IA (60 surveys each) and a data vector at TRUTH."""
    toy = default_toy()
    om, sg = np.linspace(0.1, 0.5, 5), np.linspace(0.4, 1.4, 6)
    nodes = np.array([(a, b) for a in om for b in sg])
    a_ia = np.linspace(-6, 6, 5)
    rng = np.random.default_rng(0)
    n_surveys = 60
    preds = np.stack([toy.surveys(np.array([o, s, a]), n=n_surveys, rng=rng) for o, s in nodes for a in a_ia])
    preds = preds.reshape(len(nodes), len(a_ia), n_surveys, toy.n_data)
    summ = Summaries(
        label="toy",
        cosmology_ids=tuple(f"c{i:03d}" for i in range(len(nodes))),
        omega_m=nodes[:, 0],
        sigma8=nodes[:, 1],
        a_ia=a_ia,
        predictions=preds,
        seeds=np.zeros(preds.shape[:3], dtype=np.uint64),
        output_names=("t0", "t1", "t2", "t3"),
    )
    data = DataVector(
        label="toy", data=toy.surveys(np.array(TRUTH), n=1, rng=rng)[0], output_names=summ.output_names
    )
    return summ, data
