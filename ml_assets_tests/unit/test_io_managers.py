from datetime import datetime

import dagster as dg
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from upath import UPath

from ml_assets.files import write_atomically
from ml_assets.storage.io_managers import ParquetFrameStore


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


def _output_context(tmp_path, partitions: list[str]):
    months = dg.MonthlyPartitionsDefinition(start_date="2013-01", end_date="2014-01", fmt="%Y-%m")
    return dg.build_output_context(
        asset_key=dg.AssetKey(["nyc_flights", "features"]),
        partition_key=partitions[0] if len(partitions) == 1 else None,
        asset_partitions_def=months,
        asset_partition_key_range=dg.PartitionKeyRange(partitions[0], partitions[-1]),
    ), months


def _input_context(months, partitions: list[str], metadata=None):
    return dg.build_input_context(
        asset_key=dg.AssetKey(["nyc_flights", "features"]),
        asset_partitions_def=months,
        asset_partition_key_range=dg.PartitionKeyRange(partitions[0], partitions[-1]),
        definition_metadata=metadata,
    )


def test_a_range_is_stored_one_file_per_month_and_read_back_by_month(tmp_path):
    from ml_assets.storage.io_managers import ByMonth

    store = ParquetFrameStore(base_path=UPath(tmp_path))
    frames = ByMonth(
        {m: pd.DataFrame({"rows": [i] * (i + 1)}) for i, m in enumerate(["2013-02", "2013-03", "2013-04"])}
    )
    context, months = _output_context(tmp_path, list(frames))
    store.handle_output(context, frames)
    folder = tmp_path / "nyc_flights" / "features"
    assert sorted(p.name for p in folder.iterdir()) == [
        "2013-02.parquet",
        "2013-03.parquet",
        "2013-04.parquet",
    ]
    loaded = store.load_input(_input_context(months, ["2013-02", "2013-04"]))
    assert list(loaded) == ["2013-02", "2013-03", "2013-04"]
    assert [len(frame) for frame in loaded.values()] == [1, 2, 3]


def test_a_value_that_does_not_cover_the_range_is_refused(tmp_path):
    from ml_assets.storage.io_managers import ByMonth

    store = ParquetFrameStore(base_path=UPath(tmp_path))
    context, _ = _output_context(tmp_path, ["2013-02", "2013-03"])
    with pytest.raises(TypeError, match=r"one value per partition \['2013-02', '2013-03'\]"):
        store.handle_output(context, ByMonth({"2013-02": pd.DataFrame({"a": [1]})}))
    assert not (tmp_path / "nyc_flights").exists()


def test_a_missing_month_names_itself_and_how_to_fill_it(tmp_path):
    from ml_assets.storage.io_managers import ByMonth

    store = ParquetFrameStore(base_path=UPath(tmp_path))
    context, months = _output_context(tmp_path, ["2013-03"])
    store.handle_output(context, ByMonth({"2013-03": pd.DataFrame({"a": [1]})}))
    with pytest.raises(dg.Failure) as failure:
        store.load_input(_input_context(months, ["2013-02", "2013-03"]))
    message = failure.value.description
    assert "nyc_flights/features has never been materialized for 2013-02" in message
    assert (
        "dg launch --assets 'group:nyc_flights' --partition 2013-02" in message
        and "Materialize all > partition 2013-02" in message
    )
    # declared optional: the missing month is left out and the asset decides
    loaded = store.load_input(
        _input_context(months, ["2013-02", "2013-03"], {"allow_missing_partitions": True})
    )
    assert list(loaded) == ["2013-03"]


def test_an_object_store_gets_one_put_and_never_a_temporary_object(monkeypatch):
    """On S3 (moto's server on 127.0.0.1): a successful write is one object; a write that fails while serializing
    leaves the previous object as it was and no other; no copy+delete rename is ever involved (the old
    temp-then-rename write fails this test: it renames)."""
    import boto3
    import pytest
    import s3fs
    from moto.server import ThreadedMotoServer
    from upath import UPath

    def no_copy(*args, **kwargs):
        raise AssertionError("a copy + delete 'rename' on the object store")

    for method in ("mv", "copy", "cp_file", "_cp_file", "_mv"):
        monkeypatch.setattr(s3fs.S3FileSystem, method, no_copy, raising=False)

    from ml_assets.files import write_atomically

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        options = {
            "key": "k",
            "secret": "s",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="k",
            aws_secret_access_key="s",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="outputs")
        target = UPath("s3://outputs/warehouse/model/2013-01.joblib", **options)
        write_atomically(target, lambda handle: handle.write(b"good model"))

        def torn(handle):
            handle.write(b"half a mod")
            raise OSError("killed while serializing (injected)")

        with pytest.raises(OSError, match="injected"):
            write_atomically(target, torn)
        objects = s3.list_objects_v2(Bucket="outputs")["Contents"]
        assert [o["Key"] for o in objects] == ["warehouse/model/2013-01.joblib"]
        assert (
            s3.get_object(Bucket="outputs", Key="warehouse/model/2013-01.joblib")["Body"].read()
            == b"good model"
        )
    finally:
        server.stop()


# -- a range written under a journal (ml_assets/storage/journal.py): real Dagster runs of a three-month asset --

RANGE = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-03"}


def _three_months(value: int):
    from ml_assets.storage.io_managers import ByMonth

    months = dg.MonthlyPartitionsDefinition(start_date="2013-01", end_date="2013-04", fmt="%Y-%m")

    @dg.asset(key=["demo", "table"], partitions_def=months, backfill_policy=dg.BackfillPolicy.single_run())
    def table(context: dg.AssetExecutionContext):
        return ByMonth({m: pd.DataFrame({"value": [value]}) for m in context.partition_keys})

    return table


def _failing_on_the_second_month(base_path: str):
    from ml_assets.storage.io_managers import FrameIOManager

    class FailsOnTheSecondMonth(ParquetFrameStore):
        def write_file(self, path, data):
            if path.name == "2013-02.parquet":
                raise OSError("disk full (injected)")
            super().write_file(path, data)

    class Frames(FrameIOManager):
        def _store(self):
            return FailsOnTheSecondMonth

    return Frames(base_path=base_path)


def _stored_values(base: UPath) -> dict[str, int]:
    import io

    folder = base / "demo" / "table"
    return {
        p.stem: int(pd.read_parquet(io.BytesIO(p.read_bytes()))["value"][0]) for p in sorted(folder.iterdir())
    }


def _range_rolls_back(base_path: str) -> UPath:
    from ml_assets.storage.io_managers import FrameIOManager

    with dg.DagsterInstance.ephemeral() as instance:
        good = dg.materialize(
            [_three_months(1)],
            resources={"io_manager": FrameIOManager(base_path=base_path)},
            instance=instance,
            tags=RANGE,
        )
        assert good.success
        failed = dg.materialize(
            [_three_months(2)],
            resources={"io_manager": _failing_on_the_second_month(base_path)},
            instance=instance,
            tags=RANGE,
            raise_on_error=False,
        )
        assert not failed.success
        assert "disk full (injected)" in str(failed.get_step_failure_events()[0].step_failure_data.error)
    base = UPath(base_path)
    # 2013-01 was written with 2, then put back
    assert _stored_values(base) == {
        "2013-01": 1,
        "2013-02": 1,
        "2013-03": 1,
    }
    return base


def test_a_range_whose_write_fails_midway_puts_every_month_back(tmp_path):
    base = _range_rolls_back(str(tmp_path))
    assert not [p for p in (base / ".journal").rglob("*") if p.is_file()]
    assert not [p for p in (base / "demo").rglob(".*")], "a temporary file was left"


def test_a_later_run_keeps_a_month_that_a_dead_runs_journal_also_names(tmp_path):
    """The journal of a run that died after writing 2013-01 is settled by a run that has since stored 2013-01
    itself: that run's file stays (the dead run's copy of the older file is not put back over it)."""
    from ml_assets.storage.io_managers import FrameIOManager
    from ml_assets.storage.journal import Journal

    base = UPath(tmp_path)
    io_manager = FrameIOManager(base_path=str(tmp_path))
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize(
            [_three_months(1)], resources={"io_manager": io_manager}, instance=instance, tags=RANGE
        ).success
        dead = Journal(base, dg.AssetKey(["demo", "table"]), True, "a-run-that-died", instance)
        # copies value 1 aside, then dies
        dead.begin({"2013-01": [base / "demo" / "table" / "2013-01.parquet"]})
        assert dg.materialize(
            [_three_months(3)], resources={"io_manager": io_manager}, instance=instance, tags=RANGE
        ).success
        assert dg.materialize(
            [_three_months(4)],
            resources={"io_manager": io_manager},
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2013-03",
                "dagster/asset_partition_range_end": "2013-03",
            },
        ).success
    assert _stored_values(base) == {"2013-01": 3, "2013-02": 3, "2013-03": 4}
    assert not (base / ".journal" / "demo__table" / "a-run-that-died.json").exists()


def test_on_an_object_store_a_failed_range_is_put_back_by_server_side_copies(monkeypatch):
    """The same on S3 (moto's server on 127.0.0.1): the copies are CopyObject calls, never a rename of new
    data, and the bucket ends with the three months' objects only."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for name, value in {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="ranges")
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        _range_rolls_back("s3://ranges/warehouse")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="ranges")["Contents"])
        assert keys == [f"warehouse/demo/table/2013-0{m}.parquet" for m in (1, 2, 3)]
    finally:
        server.stop()


FRAME_COLUMNS = {
    "number": st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64), st.none()),
    "count": st.integers(-(2**40), 2**40),
    "text": st.one_of(st.sampled_from(["a", "b", "é x"]), st.none()),
    "nothing": st.none(),
    "flag": st.booleans(),
    "stamp": st.one_of(
        st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2100, 1, 1)), st.none()
    ),
    "nullable_int": st.one_of(st.integers(-5, 5), st.none()),
    "category": st.sampled_from(["red", "blue"]),
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(FRAME_COLUMNS)), min_size=1, max_size=5, unique=True).flatmap(
        lambda kinds: st.tuples(
            st.just(kinds), st.lists(st.tuples(*(FRAME_COLUMNS[k] for k in kinds)), min_size=0, max_size=25)
        )
    ),
    st.integers(1, 8),
)
@example((["text", "number"], [(None, None), ("a", 1.5)]), 1)  # a column whose first row group has no value
def test_a_frame_written_a_row_group_at_a_time_reads_back_as_pandas_own_parquet_file(case, rows_per_group):
    """`write_parquet` converts a row group at a time (not the whole frame at once): what it stores reads back as
    the file pandas' `to_parquet` writes, for every column kind a step stores and any number of rows."""
    import io

    from ml_assets.files import read_parquet, write_parquet

    kinds, rows = case
    frame = pd.DataFrame(rows, columns=kinds, index=pd.RangeIndex(len(rows)) * 3)
    if "nullable_int" in kinds:
        frame["nullable_int"] = frame["nullable_int"].astype("Int64")
    if "category" in kinds:
        frame["category"] = frame["category"].astype("category")
    if "stamp" in kinds:
        frame["stamp"] = pd.to_datetime(frame["stamp"])
    ours, pandas_own = io.BytesIO(), io.BytesIO()
    write_parquet(frame, ours, rows_per_group)
    frame.to_parquet(pandas_own, index=False)
    pd.testing.assert_frame_equal(
        read_parquet(io.BytesIO(ours.getvalue())),
        read_parquet(io.BytesIO(pandas_own.getvalue())),
        check_exact=True,
    )
