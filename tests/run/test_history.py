import pytest

from nonlinearity.run.history import linear_share


def test_linear_share_is_weighted_by_layer_width():
    gating = [{"num_features": 10, "alpha_mean": 1.0}, {"num_features": 30, "alpha_mean": 0.2}]
    assert linear_share(gating) == pytest.approx(30 * 0.8 / 40)
    assert linear_share([]) is None
