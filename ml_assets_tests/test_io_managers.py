import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from ml_assets.io_managers import ParquetFrameStore, write_atomically


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    target = UPath(tmp_path / "2021-01.parquet")
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(target)
    before = target.read_bytes()

    def half_then_crash(handle):
        handle.write(b"PAR1 partial bytes")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        write_atomically(target, half_then_crash)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["2021-01.parquet"]


def test_parquet_store_round_trips_a_partition(tmp_path):
    store = ParquetFrameStore(base_path=UPath(tmp_path))
    frame = pd.DataFrame({"origin": pd.array(["1", "2"], dtype="string"), "distance": [1.5, 2.0]})
    path = UPath(tmp_path) / "2021-01.parquet"
    store.dump_to_path(dg.build_output_context(), frame, path)
    loaded = store.load_from_path(dg.build_input_context(), path)
    pd.testing.assert_frame_equal(loaded, frame)
