"""n(z) files: reader errors, conventions, generators, committed demo files, config wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.integrate import quad

from wlcnn.config import load_config
from wlcnn.lensing.nz import (
    DEMO_BOOTSTRAP_PATTERN,
    DEMO_MEAN_PATTERN,
    NzError,
    NzFileNotFoundError,
    NzTable,
    bootstrap_nz_histograms,
    bootstrap_nz_paths,
    load_nz_from_config,
    main,
    read_nz,
    read_nz_columns,
    synthetic_nz_histograms,
    write_demo_nz,
    write_nz_columns,
)

REPO = Path(__file__).resolve().parents[2]
DEMO_NZ = REPO / "data" / "demo" / "nz"


def _write(tmp_path: Path, text: str, name: str = "nz.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "# KiDS style\n# z n(z)\n0.00 0.0\n0.05 1.5  # inline comment\n\n0.10 2.0\n0.15 0.5\n"


def test_reads_columns_comments_and_blank_lines(tmp_path):
    z, n = read_nz_columns(_write(tmp_path, GOOD))
    np.testing.assert_array_equal(z, [0.0, 0.05, 0.10, 0.15])
    np.testing.assert_array_equal(n, [0.0, 1.5, 2.0, 0.5])


def test_lower_edge_convention_uses_midpoints_and_starts_at_zero(tmp_path):
    t = read_nz(_write(tmp_path, "0.05 1.0\n0.10 3.0\n0.15 2.0\n"), z_convention="lower_edge")
    np.testing.assert_allclose(t.z, [0.0, 0.075, 0.125, 0.175])
    np.testing.assert_array_equal(t.nz, [0.0, 1.0, 3.0, 2.0])
    p = read_nz(_write(tmp_path, "0.05 1.0\n0.10 3.0\n0.15 2.0\n"), z_convention="point")
    np.testing.assert_array_equal(p.z, [0.05, 0.10, 0.15])
    with pytest.raises(NzError, match="equally spaced"):
        read_nz(_write(tmp_path, "0.0 1.0\n0.1 1.0\n0.3 1.0\n"), z_convention="lower_edge")


def test_extra_columns_only_when_declared(tmp_path):
    path = _write(tmp_path, "0.0 1.0 0.1\n0.1 2.0 0.2\n")
    _, n = read_nz_columns(path, n_columns=3)
    np.testing.assert_array_equal(n, [1.0, 2.0])
    with pytest.raises(NzError, match=r"nz\.txt:1: expected 2 numeric columns.*found 3"):
        read_nz_columns(path)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("0.0 1.0\n0.1 abc\n", 2, r"column 2 is not a number: 'abc'"),
        ("# header\n0.0 1.0\n0.1 -0.5\n", 3, r"expected n\(z\) >= 0, found n=-0.5"),
        ("0.0 1.0\n0.2 1.0\n0.1 1.0\n", 3, r"increase strictly, found z=0.1 after z=0.2 \(line 2\)"),
        ("0.0 1.0\n0.1 1.0\n0.2 1.0 7\n", 3, r"expected 2 numeric columns.*found 3 column"),
        ("0.0 1.0\n0.1\n", 2, r"found 1 column"),
        ("0.0 1.0\n0.1 nan\n", 2, r"expected finite"),
        ("-0.1 1.0\n0.1 1.0\n", 1, r"expected z >= 0"),
    ],
)
def test_format_errors_name_file_and_line(tmp_path, text, line, what):
    path = _write(tmp_path, text)
    with pytest.raises(NzError, match=what) as info:
        read_nz(path)
    assert info.value.path == str(path) and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_missing_empty_and_zero_files(tmp_path):
    missing = tmp_path / "absent" / "nz_bin1.txt"
    with pytest.raises(FileNotFoundError, match=r"nz_bin1\.txt: n\(z\) file does not exist") as info:
        read_nz(missing)
    assert isinstance(info.value, NzFileNotFoundError) and isinstance(info.value, NzError)
    with pytest.raises(NzError, match="at least 2 data lines"):
        read_nz(_write(tmp_path, "# only a comment\n0.1 1.0\n"))
    with pytest.raises(NzError, match="n\\(z\\) = 0 on every line"):
        read_nz(_write(tmp_path, "0.0 0\n0.1 0\n"))


def test_table_integrals_are_exact_for_the_piecewise_linear_function():
    t = NzTable(z=np.array([0.1, 0.3, 0.4, 0.9]), nz=np.array([2.0, 1.0, 3.0, 0.5]))
    total = quad(t.evaluate, 0.0, 1.2, points=list(t.z), epsabs=0, epsrel=1e-12)[0]
    mean = quad(lambda z: z * t.evaluate(z), 0.0, 1.2, points=list(t.z), epsabs=0, epsrel=1e-12)[0] / total
    assert t.integral() == pytest.approx(total, rel=1e-12)
    assert t.mean_redshift() == pytest.approx(mean, rel=1e-12)
    assert t.normalised().integral() == pytest.approx(1.0, rel=1e-14)
    assert float(t.evaluate(0.05)) == 0.0 and float(t.evaluate(1.0)) == 0.0  # zero outside the nodes
    cut = t.truncated(z_max=0.35)
    assert cut.z[-1] == 0.35 and cut.nz[-1] == pytest.approx(2.0)
    part = quad(t.evaluate, 0.0, 0.35, points=[0.1, 0.3], epsabs=0, epsrel=1e-12)[0]
    assert cut.integral() == pytest.approx(part, rel=1e-12)
    with pytest.raises(NzError):
        NzTable(z=np.array([0.0, 0.0]), nz=np.array([1.0, 1.0]))


def test_write_read_round_trip_and_bootstrap_determinism(tmp_path):
    z_lower, hist = synthetic_nz_histograms(z_max=1.4, bin_width=0.025)
    assert hist.shape == (4, 56)
    np.testing.assert_allclose(hist.sum(axis=1) * 0.025, 1.0, rtol=1e-5)
    path = tmp_path / "h.txt"
    write_nz_columns(path, z=z_lower, nz=hist[2], header=["test"])
    z, n = read_nz_columns(path)
    np.testing.assert_array_equal(z, z_lower)  # bit-for-bit: generators round to what is written
    np.testing.assert_array_equal(n, hist[2])
    a = bootstrap_nz_histograms(z_lower=z_lower, hist=hist, seed=7, realisation=3)
    b = bootstrap_nz_histograms(z_lower=z_lower, hist=hist, seed=7, realisation=3)
    c = bootstrap_nz_histograms(z_lower=z_lower, hist=hist, seed=7, realisation=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, hist)
    assert np.all(a >= 0) and np.allclose(a.sum(axis=1) * 0.025, 1.0, rtol=1e-5)
    # a variant is a perturbation of the mean, not a different distribution
    means = (z_lower + 0.0125) @ a.T * 0.025
    np.testing.assert_allclose(means, (z_lower + 0.0125) @ hist.T * 0.025, atol=0.08)


def test_committed_demo_files_are_what_the_generator_writes(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    n_boot = cfg["lensing"]["n_nz_bootstrap"]
    written = write_demo_nz(tmp_path, seed=cfg["run"]["seed"], n_bootstrap=n_boot)
    assert len(written) == 4 * (1 + n_boot)
    for path in written:
        committed = DEMO_NZ / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), committed
    total = sum(p.stat().st_size for p in DEMO_NZ.rglob("*") if p.is_file())
    assert total < 200_000
    assert (DEMO_NZ / DEMO_MEAN_PATTERN.format(bin=1)).is_file()
    assert (DEMO_NZ / DEMO_BOOTSTRAP_PATTERN.format(bin=4, realisation=n_boot - 1)).is_file()


def test_cli_writes_the_same_files(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--seed", "42", "--n-bootstrap", "1"]) == 0
    assert "wrote 8 files" in capsys.readouterr().out
    assert (tmp_path / "nz_bin2.txt").read_bytes() == (DEMO_NZ / "nz_bin2.txt").read_bytes()


def test_demo_config_lensing_block_loads_mean_and_bootstrap_nz():
    cfg = load_config(REPO / "config" / "demo.yaml", base_dir=REPO)
    lensing = cfg["lensing"]
    mean = load_nz_from_config(lensing, base_dir=REPO)
    assert len(mean) == 4
    assert [round(t.mean_redshift(), 2) for t in mean] == sorted(round(t.mean_redshift(), 2) for t in mean)
    assert all(t.z[-1] <= lensing["z_source_max"] for t in mean)
    boot = load_nz_from_config(lensing, base_dir=REPO, realisation=lensing["n_nz_bootstrap"] - 1)
    assert len(boot) == 4 and not np.array_equal(boot[0].nz, mean[0].nz)
    with pytest.raises(ValueError, match="outside"):
        load_nz_from_config(lensing, base_dir=REPO, realisation=lensing["n_nz_bootstrap"])
    paths = bootstrap_nz_paths(lensing["nz_bootstrap_pattern"], n_bins=2, realisation=12, base_dir="/x")
    assert [p.name for p in paths] == ["nz_bin1_0012.txt", "nz_bin2_0012.txt"]


def test_paper_config_keeps_kids450_paths_and_constants():
    cfg = load_config(REPO / "config" / "config.yaml", base_dir=REPO)
    lensing = cfg["lensing"]
    assert lensing["z_source_max"] == 3.45 and lensing["ia_c1_rho_crit"] == 0.0134
    assert len(lensing["nz_files"]) == 4 and all("kids450" in p for p in lensing["nz_files"])
    assert lensing["n_nz_bootstrap"] == 1000 and lensing["nz_z_convention"] == "lower_edge"
