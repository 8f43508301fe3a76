import re

import numpy as np
import pytest

from ml_assets.tracking import TrackingUnavailableError, check_tracking_uri, decide_champion, prediction_plot_png


def test_first_checked_model_becomes_champion():
    decision = decide_champion("1", 10.9, True, None, None, 0.0)
    assert decision.promote and "first" in decision.reason


def test_better_model_moves_the_alias_and_worse_keeps_it():
    better = decide_champion("2", 11.4, True, "1", 12.7, 0.01)
    assert better.promote and "beats champion version 1" in better.reason
    worse = decide_champion("3", 12.0, True, "2", 11.4, 0.0)
    assert not worse.promote and "the champion stays" in worse.reason


def test_tolerance_keeps_a_marginally_better_model_out():
    decision = decide_champion("2", 11.3, True, "1", 11.4, 0.05)
    assert not decision.promote and "needed <= 10.830" in decision.reason


def test_failed_blocking_check_keeps_the_champion_whatever_the_rmse():
    decision = decide_champion("2", 1.0, False, "1", 11.4, 0.0)
    assert not decision.promote and "failed a blocking check" in decision.reason


def test_same_version_is_not_promoted_again():
    assert not decide_champion("2", 11.0, True, "2", 11.0, 0.0).promote


@pytest.mark.parametrize("uri, message", [("bogus://x", "scheme 'bogus'"), ("mlruns-folder", "scheme '(none)'")])
def test_malformed_tracking_uri_is_named(uri, message):
    with pytest.raises(TrackingUnavailableError, match=re.escape(message)):
        check_tracking_uri(uri)


def test_unreachable_tracking_server_is_named():
    with pytest.raises(TrackingUnavailableError, match=r"http://127.0.0.1:9 does not answer"):
        check_tracking_uri("http://127.0.0.1:9", timeout_s=2)


def test_plot_is_a_png():
    rng = np.random.default_rng(0)
    actual = rng.uniform(1, 60, 500)
    png = prediction_plot_png(actual, actual + rng.normal(0, 3, 500), "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
