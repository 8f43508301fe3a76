import pandas as pd
import pytest
from upath import UPath

from ml_assets.sources.base import MonthNotAvailableError, SourceDataError, SourceUnavailableError
from ml_assets.sources.http import download as download_month
from ml_assets.sources.taxi import read_taxi_month
from ml_assets_tests.conftest import write_empty, write_truncated, write_without_column


@pytest.mark.parametrize("month", ["2021-01", "2023-01", "2023-02", "2024-03"])
def test_both_tlc_schemas_normalize_to_one(tlc_dir, month):
    raw = read_taxi_month(UPath(tlc_dir / f"green_tripdata_{month}.parquet"), "green", month)
    assert {"pickup_datetime", "origin", "destination", "distance", "duration_min"} <= set(raw.columns)
    assert raw["origin"].str.fullmatch(r"\d+").all()
    assert raw["origin"].astype(int).between(1, 265).all()


def test_rows_and_stray_timestamps_match_provenance(tlc_dir):
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2022-02.parquet"), "green", "2022-02")
    assert len(raw) == 69_399
    outside = (raw["pickup_datetime"] < "2022-02-01") | (raw["pickup_datetime"] >= "2022-03-01")
    assert int(outside.sum()) == 23
    assert raw["pickup_datetime"].min() == pd.Timestamp("2009-01-01 00:02:32")


def test_truncated_file_names_month_and_file(tlc_dir, tmp_path):
    bad = tmp_path / "green_tripdata_2021-01.parquet"
    write_truncated(tlc_dir / bad.name, bad)
    with pytest.raises(
        SourceDataError, match=r"month 2021-01: .*green_tripdata_2021-01.parquet: not a readable parquet"
    ):
        read_taxi_month(UPath(bad), "green", "2021-01")


def test_missing_column_is_named(tlc_dir, tmp_path):
    bad = tmp_path / "green_tripdata_2021-02.parquet"
    write_without_column(tlc_dir / bad.name, bad, "trip_distance")
    with pytest.raises(SourceDataError, match=r"missing required column\(s\) \['trip_distance'\]"):
        read_taxi_month(UPath(bad), "green", "2021-02")


def test_yellow_prefix_is_required_for_yellow(tlc_dir):
    with pytest.raises(SourceDataError, match="tpep_pickup_datetime"):
        read_taxi_month(UPath(tlc_dir / "green_tripdata_2021-01.parquet"), "yellow", "2021-01")


def test_empty_month_is_an_error(tlc_dir, tmp_path):
    bad = tmp_path / "green_tripdata_2021-03.parquet"
    write_empty(tlc_dir / bad.name, bad)
    with pytest.raises(SourceDataError, match="holds no trips"):
        read_taxi_month(UPath(bad), "green", "2021-03")


def test_download_is_byte_identical_and_leaves_no_temp_files(trip_server, tlc_dir, tmp_path):
    dest = UPath(tmp_path / "cache" / "green_tripdata_2021-01.parquet")
    url = trip_server.url_template.format(color="green", month="2021-01")
    written = download_month(url, dest, "2021-01")
    assert written == (tlc_dir / dest.name).stat().st_size
    assert dest.read_bytes() == (tlc_dir / dest.name).read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]


def test_unpublished_month_is_not_retryable(trip_server, tmp_path):
    url = trip_server.url_template.format(color="green", month="2030-01")
    dest = UPath(tmp_path / "green_tripdata_2030-01.parquet")
    with pytest.raises(MonthNotAvailableError, match=r"month 2030-01: .*2030-01.parquet: HTTP 404"):
        download_month(url, dest, "2030-01")
    assert not dest.exists()


def test_server_fault_is_retryable_and_writes_nothing(trip_server, tmp_path):
    trip_server.faults["green_tripdata_2021-01.parquet"] = 1
    url = trip_server.url_template.format(color="green", month="2021-01")
    dest = UPath(tmp_path / "cache" / "green_tripdata_2021-01.parquet")
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        download_month(url, dest, "2021-01")
    assert list(dest.parent.iterdir()) == []


def test_unreachable_host_is_retryable(tmp_path):
    # port 9 (discard) on loopback: nothing listens, so the connection is refused at once
    with pytest.raises(SourceUnavailableError, match="2021-01"):
        download_month(
            "http://127.0.0.1:9/green_tripdata_2021-01.parquet", UPath(tmp_path / "x.parquet"), "2021-01", 5
        )


def test_local_paths_and_file_urls_are_sources_too(tlc_dir, tmp_path):
    src = tlc_dir / "green_tripdata_2021-01.parquet"
    for i, url in enumerate([str(src), src.as_uri()]):
        dest = UPath(tmp_path / f"copy{i}.parquet")
        download_month(url, dest, "2021-01")
        assert dest.read_bytes() == src.read_bytes()


def test_a_pinned_file_is_kept_only_when_its_bytes_have_the_pinned_sha256(tlc_dir, tmp_path):
    """The download path of a clone without the local mirror: the first URL whose bytes match wins, a wrong copy is
    never written, and a failure names every URL tried."""
    from ml_assets_tests.conftest import TripServer
    from ml_assets_tests.tlc_files import DataUnavailableError, fetch

    name = "green_tripdata_2021-02.parquet"
    served = tmp_path / "served"
    served.mkdir()
    (served / "wrong.parquet").write_bytes((tlc_dir / name).read_bytes()[:-1] + b"x")
    (served / name).write_bytes((tlc_dir / name).read_bytes())
    cache = tmp_path / "cache"
    cache.mkdir()
    with TripServer(served) as server:
        base = f"http://127.0.0.1:{server.httpd.server_port}"
        with pytest.raises(
            DataUnavailableError,
            match=r"wrong\.parquet: sha256 .* not the pinned .*missing\.parquet: HTTPError",
        ):
            fetch(name, cache, [f"{base}/wrong.parquet", f"{base}/missing.parquet"])
        assert list(cache.iterdir()) == []
        fetch(name, cache, [f"{base}/wrong.parquet", f"{base}/{name}"])
    assert (cache / name).read_bytes() == (tlc_dir / name).read_bytes() and len(list(cache.iterdir())) == 1
