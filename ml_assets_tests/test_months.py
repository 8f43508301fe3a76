"""Month arithmetic on YYYY-MM keys."""

import pandas as pd

from ml_assets.months import month_bounds, months_between, next_month


def test_months_between_crosses_the_year_and_includes_both_ends():
    assert months_between("2012-11", "2013-02") == ["2012-11", "2012-12", "2013-01", "2013-02"]
    assert months_between("2013-05", "2013-05") == ["2013-05"]
    assert months_between("2013-06", "2013-05") == []


def test_next_month_and_bounds_agree():
    start, end = month_bounds("2023-12")
    assert (start, end) == (pd.Timestamp("2023-12-01"), pd.Timestamp("2024-01-01"))
    assert next_month("2023-12") == "2024-01" == end.strftime("%Y-%m")
