"""Tests of the case study's tail-index estimator (pytest docs/case-studies/digits-batch-size)."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax", reason="SKIPPED: JAX not installed (pip install 'jax[cpu]')")
pytest.importorskip("sklearn", reason="SKIPPED: scikit-learn not installed")
from scipy import stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tails  # noqa: E402


def test_gaussian_data_give_two():
    x = np.random.default_rng(1).standard_normal(200_000)
    assert abs(tails.block_sum_alpha(x, 400) - 2.0) < 0.05


def test_symmetric_stable_data_give_their_index():
    x = stats.levy_stable.rvs(1.5, 0.0, size=100_000, random_state=np.random.default_rng(2))
    assert abs(tails.block_sum_alpha(x, 300) - 1.5) < 0.1


def test_pooling_gaussian_coordinates_of_different_scales_looks_heavy_tailed():
    rng = np.random.default_rng(3)
    sd = np.exp(rng.uniform(-2.0, 2.0, size=500))
    z = rng.standard_normal((200, 500)) * sd
    assert tails.block_sum_alpha(z.ravel(), 100) < 1.85
    per_column = tails.block_sum_alpha_columns(z, 10)
    assert abs(np.median(per_column) - 2.0) < 0.1


def test_column_version_matches_the_scalar_one():
    z = np.random.default_rng(4).standard_t(3, size=(120, 5))
    cols = tails.block_sum_alpha_columns(z, 12)
    for j in range(5):
        assert cols[j] == pytest.approx(tails.block_sum_alpha(z[:, j], 12), rel=1e-12)


def test_rows_use_euclidean_norms():
    z = np.random.default_rng(5).standard_normal((40_000, 3))
    assert abs(tails.block_sum_alpha(z, 200) - 2.0) < 0.05


def test_block_size_rule_and_errors():
    assert tails.largest_divisor_at_most_sqrt(16198) == 91
    assert tails.largest_divisor_at_most_sqrt(4000) == 50
    with pytest.raises(ValueError):
        tails.block_sum_alpha(np.ones(3), 2)
