import numpy as np
import pytest

from wlcnn.atomic import atomic_path
from wlcnn.seeding import rng_for


def test_streams_depend_only_on_seed_and_identity():
    a = rng_for(7, "ics", "c000", 3).standard_normal(1000)
    b = rng_for(7, "ics", "c000", 3).standard_normal(1000)
    np.testing.assert_array_equal(a, b)
    for other in [rng_for(8, "ics", "c000", 3), rng_for(7, "ics", "c000", 4), rng_for(7, "ics", "c00", 3)]:
        assert not np.array_equal(a, other.standard_normal(1000))
    # identities that concatenate to the same text must not collide
    assert rng_for(1, "c1", 23).integers(1 << 62) != rng_for(1, "c12", 3).integers(1 << 62)


def test_independent_streams_are_uncorrelated():
    x = np.stack([rng_for(0, "r", i).standard_normal(20000) for i in range(8)])
    corr = np.corrcoef(x)[np.triu_indices(8, 1)]
    assert np.max(np.abs(corr)) < 0.04  # ~5 sigma for 20000 samples


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_text("old")
    # the failure must come from inside the block, after a partial write
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:  # noqa: PT012
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_files_get_umask_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "shared.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644
