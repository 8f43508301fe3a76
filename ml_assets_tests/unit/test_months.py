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


def test_is_month_accepts_real_months_only():
    from ml_assets.months import is_month

    assert is_month("2013-01") and is_month("1999-12")
    assert not any(
        is_month(v) for v in ("2013-13", "2013-00", "2013-1", "13-01-01", "2013/01", "abcd-ef", None)
    )


def test_months_agree_with_pandas_periods_over_decades():
    expected = pd.period_range("1998-01", "2031-12", freq="M").strftime("%Y-%m").tolist()
    assert months_between("1998-01", "2031-12") == expected
    assert [next_month(m) for m in expected[:-1]] == expected[1:]
