import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from ml_assets.learning.diagnostics import group_residuals, permutation_importances, residuals_table


def test_residuals_are_summed_by_the_largest_groups_first():
    groups = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"])
    actual = np.array([10, 10, 10, 10, 10, 4, 4, 4, 0], dtype=float)
    predicted = np.array([8, 8, 8, 8, 8, 5, 5, 5, 0], dtype=float)
    table = residuals_table(group_residuals(groups, actual, predicted, top=2)).splitlines()
    assert (
        table[2] == "| a | 5 | +2.00 | 2.00 |" and table[3] == "| b | 3 | -1.00 | 1.00 |" and len(table) == 4
    )


def test_permutation_importance_ranks_the_input_the_model_uses_first():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=500), "noise": rng.normal(size=500)})
    y = 3 * X["signal"].to_numpy() + rng.normal(scale=0.1, size=500)
    found = permutation_importances(LinearRegression().fit(X, y), X, y, rows=300, repeats=3, random_state=0)
    assert [name for name, _, _ in found] == ["signal", "noise"]
    assert found[0][1] > 1.0 and abs(found[1][1]) < 0.05


def test_permutation_importance_is_the_rmse_increase_whether_predicted_together_or_one_shuffle_at_a_time():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=200),
            "b": rng.normal(size=200),
            "kind": pd.Categorical(rng.choice(["x", "y"], 200)),
        }
    )
    y = (
        2 * X["a"].to_numpy()
        - X["b"].to_numpy()
        + (X["kind"] == "y").to_numpy()
        + rng.normal(scale=0.1, size=200)
    )

    class Recorded:
        """A model on the three columns that records the rows of each predict call (and needs `kind` categorical)."""

        def __init__(self):
            self.calls = []

        def predict(self, frame):
            assert isinstance(frame["kind"].dtype, pd.CategoricalDtype)
            self.calls.append(len(frame))
            return 2 * frame["a"].to_numpy() - frame["b"].to_numpy() + (frame["kind"] == "y").to_numpy()

    together, apart = Recorded(), Recorded()
    found = permutation_importances(together, X, y, rows=500, repeats=2, random_state=3)
    assert found == permutation_importances(
        apart, X, y, rows=500, repeats=2, random_state=3, rows_per_predict=200
    )
    assert together.calls == [200, 1200] and apart.calls == [200] * 7
    # by hand: the same seeded shuffles, one column at a time
    order = np.random.default_rng(3)
    base = np.sqrt(np.mean((apart.predict(X) - y) ** 2))
    by_hand = {}
    for column in X.columns:
        increases = []
        for _ in range(2):
            shuffled = X.assign(**{column: X[column].iloc[order.permutation(200)].reset_index(drop=True)})
            increases.append(np.sqrt(np.mean((apart.predict(shuffled) - y) ** 2)) - base)
        by_hand[column] = [np.mean(increases), np.std(increases)]
    for name, mean, sd in found:
        assert [mean, sd] == pytest.approx(by_hand[name], abs=1e-12)
    assert [name for name, _, _ in found] == ["a", "b", "kind"]


def test_calibration_compares_stated_probability_with_what_happened():
    from ml_assets.learning.diagnostics import calibration_table

    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    proba_1 = np.array([0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5])
    table = calibration_table(y, np.column_stack([1 - proba_1, proba_1]), [0, 1], bins=5).splitlines()
    assert table[0] == "| bin | rows | mean P(1) | share 1 |"
    assert table[2:] == [
        "| 0.0-0.2 | 2 | 0.100 | 0.000 |",
        "| 0.4-0.6 | 2 | 0.500 | 1.000 |",
        "| 0.8-1.0 | 4 | 0.900 | 0.750 |",
    ]
    # three classes: the top class's probability against how often it is right
    three = np.array([[0.8, 0.1, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    rows = calibration_table(np.array(["a", "b", "c"]), three, ["a", "b", "c"], bins=5).splitlines()
    assert (
        rows[0] == "| bin | rows | mean confidence | accuracy |"
        and rows[2] == "| 0.8-1.0 | 3 | 0.800 | 0.667 |"
    )


def test_calibration_error_weighs_each_bins_gap_by_its_rows():
    from ml_assets.learning.diagnostics import calibration_error

    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    proba_1 = np.array([0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.5, 0.5])
    # bins: 2 rows stated 0.1 seen 0.0, 2 rows stated 0.5 seen 1.0, 4 rows stated 0.9 seen 0.75
    expected = (2 * 0.1 + 2 * 0.5 + 4 * 0.15) / 8
    assert calibration_error(y, np.column_stack([1 - proba_1, proba_1]), [0, 1]) == pytest.approx(expected)
    perfect = np.array([0.0, 0.0, 1.0, 1.0])
    assert calibration_error(np.array([0, 0, 1, 1]), np.column_stack([1 - perfect, perfect]), [0, 1]) == 0.0
