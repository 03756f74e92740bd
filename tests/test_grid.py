from pathlib import Path

import numpy as np
import pytest

from wlcnn.grid import GridError, format_grid, read_grid, sigma8_line_grid, simulations

REPO = Path(__file__).resolve().parents[1]
PRIOR = {"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]}


def test_points_lie_on_constant_sigma8_lines_inside_the_prior():
    lines = np.linspace(0.5, 1.0, 8)
    pts = np.array(sigma8_line_grid(sigma8_lines=lines, omega_m=np.linspace(0.1, 0.5, 8), prior=PRIOR))
    big_sigma = pts[:, 1] * (pts[:, 0] / 0.3) ** 0.6
    # every point on one of the requested lines
    assert np.all(np.min(np.abs(big_sigma[:, None] - lines[None, :]), axis=1) < 1e-12)
    assert np.all((pts[:, 0] >= 0.1) & (pts[:, 0] <= 0.5) & (pts[:, 1] >= 0.4) & (pts[:, 1] <= 1.4))
    assert len(pts) == 57  # the paper's grid size with the default generator settings


def test_shipped_kids450_grid_is_the_documented_generator_output():
    pts = sigma8_line_grid(
        sigma8_lines=np.linspace(0.5, 1.0, 8), omega_m=np.linspace(0.1, 0.5, 8), prior=PRIOR
    )
    text = format_grid(pts, n_train=10, n_test=2, mocks=[(0.25, 0.849)])
    assert (REPO / "config" / "grids" / "kids450.csv").read_text() == text


def test_simulation_numbering_and_roles(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(format_grid([(0.3, 0.8)], n_train=10, n_test=2, mocks=[(0.25, 0.849)]))
    grid = read_grid(path, prior=PRIOR)
    sims = simulations(grid)
    assert [s.name for s in sims if s.cosmology.id == "c000"] == [f"sim{i:02d}" for i in range(12)]
    assert [s.role for s in sims].count("train") == 10
    assert [s.name for s in simulations(grid, roles=["test"])] == ["sim10", "sim11"]
    assert grid[0].s8 == pytest.approx(0.8)
    assert [s.cosmology.id for s in simulations(grid, roles=["mock"])] == ["mock00"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("id,omega_m,sigma8,role\nc0,0.3,0.8,train\n", "expected columns"),
        ("id,omega_m,sigma8,role,n_sims\nc0,0.3,abc,train,1\n", "line 2: expected numbers"),
        ("id,omega_m,sigma8,role,n_sims\nc0,0.3,0.8,training,1\n", "column 'role'"),
        ("id,omega_m,sigma8,role,n_sims\nc0,0.3,0.8,train,0\n", "column 'n_sims'"),
        (
            "id,omega_m,sigma8,role,n_sims\nc0,0.3,0.8,train,1\nc0,0.31,0.8,test,1\n",
            "line 3: id 'c0' already has",
        ),
        ("id,omega_m,sigma8,role,n_sims\nc0,0.3,0.8,train,1\nc0,0.3,0.8,train,1\n", "duplicate row"),
        ("id,omega_m,sigma8,role,n_sims\nc0,0.6,0.8,train,1\n", "outside the prior box"),
        ("id,omega_m,sigma8,role,n_sims\nc/0,0.3,0.8,train,1\n", "column 'id'"),
    ],
)
def test_bad_tables_name_file_line_and_column(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(GridError, match=message) as info:
        read_grid(path, prior=PRIOR)
    assert "bad.csv" in str(info.value)
