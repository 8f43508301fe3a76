"""Errors that teach: what only the data can tell, on frames built here. Each message names the setting, the value
and what is allowed; docs/bring-your-own-data.md quotes them. (The stored-files-unchanged half is tested in
integration/test_classification.py and integration/test_pipeline.py.)"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from ml_assets.components import TrainingPipeline
from ml_assets.sources.base import SourceDataError
from ml_assets.sources.table import parse_csv


def penguins_like(**columns) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "species": ["Adelie", "Gentoo", "Chinstrap", "Adelie"] * 6,
            "island": ["Torgersen", "Biscoe", "Dream", "Dream"] * 6,
            "bill_length_mm": [39.1, 46.1, 46.5, 38.8] * 6,
            "body_mass_g": [3750.0 + 25 * i for i in range(24)],
            "sex": ["male", None, "female", "male"] * 6,
        }
    )
    return frame.assign(**columns)


def task_of(**attributes):
    base = {
        "name": "birds",
        "task": "classification",
        "source": {"kind": "table", "path": "birds.csv"},
        "target": {"column": "species"},
        "features": {"numeric": ["bill_length_mm"], "categorical": ["island", "sex"]},
        "estimator": {"kind": "logistic_regression"},
    }
    return TrainingPipeline.resolve_from_dict({**base, **attributes}).plan().task


@pytest.mark.parametrize(
    "attributes, frame, expected",
    [
        (
            {"target": {"column": "spieces"}},
            penguins_like(),
            "target.column 'spieces' is not among the delivered columns ['species', 'island', "
            "'bill_length_mm', 'body_mass_g', 'sex']",
        ),
        (
            {"features": {"numeric": ["flipper"]}},
            penguins_like(),
            "the declared feature column(s) ['flipper'] are not among the delivered columns ['species'",
        ),
        (
            {"features": {"numeric": ["island"]}},
            penguins_like(),
            "features.numeric column 'island' holds text (e.g. 'Torgersen' in 24 rows): list it under "
            "features.categorical",
        ),
        (
            {"task": "regression", "estimator": {"kind": "ridge"}},
            penguins_like(),
            "target.column 'species' holds object values (e.g. 'Adelie'): regression needs numbers; "
            "declare task: classification",
        ),
        (
            {"target": {"column": "body_mass_g"}},
            penguins_like(),
            "target.column 'body_mass_g' looks like a measurement (24 distinct values, e.g. 3750.0): "
            "declare task: regression",
        ),
        (
            {},
            penguins_like(species="Gentoo"),
            "target.column 'species' holds 1 class (['Gentoo']): at least two are needed",
        ),
        (
            {"target": {"column": "species", "class_names": ["a", "b"]}},
            penguins_like(),
            "target.class_names ['a', 'b'] names classes by position, which only labels 0..1 have, but the data holds "
            "['Adelie', 'Chinstrap', 'Gentoo']: write it as a mapping from label to name, class_names: "
            "{Adelie: <name>, "
            "Chinstrap: <name>, Gentoo: <name>}",
        ),
        (
            {"target": {"column": "species", "positive_above": 1}},
            penguins_like(),
            "target.positive_above needs a numeric target; 'species' holds object (e.g. 'Adelie')",
        ),
        (
            {
                "features": {
                    "numeric": ["bill_length_mm", "hour"],
                    "derived": [{"name": "hour", "part_of": "island", "part": "hour"}],
                }
            },
            penguins_like(),
            "features.derived[hour] needs timestamps in 'island', which holds e.g. 'Torgersen'",
        ),
        ({}, penguins_like().iloc[:0], "the source delivered no rows"),
    ],
)
def test_what_the_data_tells_is_refused_before_anything_is_stored(attributes, frame, expected):
    problems = "; ".join(task_of(**attributes).refusals(frame))
    assert expected in problems, problems


def test_a_clean_table_has_nothing_to_refuse():
    assert task_of().refusals(penguins_like()) == []


@pytest.mark.parametrize(
    "data, columns, expected",
    [
        (b"a,b,c\n1,2,3\n4,5,6,7\n", None, "line 3 has 4 fields where the header has 3"),
        # pandas would shift every column
        (b"a,b,c\n1,2,3,9\n4,5,6,7\n", None, "line 2 has 4 fields where the header has 3"),
        # pandas would fill a gap silently
        (b"a,b,c\n1,2\n4,5,6\n", None, "line 2 has 2 fields where the header has 3"),
        (b"1,2,3\n4,5,6,7\n", ("a", "b", "c"), "line 2 has 4 fields where source.columns names 3"),
        (b"a,b,c\n1,2,3\n4,5", None, "the file ends mid-line: its last line (3) has 2 of 3 fields"),
        (b"", None, "the file is empty"),
        (b"a,b,c\n", None, "the file holds no rows"),
        (b"\xff\xfe\x00a", None, "not a UTF-8 text file"),
    ],
)
def test_a_csv_is_read_strictly_row_by_row(data, columns, expected):
    with pytest.raises(SourceDataError) as caught:
        parse_csv(data, "birds.csv", None, columns, ",", ())
    assert expected in str(caught.value) and "birds.csv" in str(caught.value)


def test_a_well_formed_csv_keeps_text_and_gaps():
    frame = parse_csv(b'name,size,colour\nx,1.5,red\ny,,\n"z, quoted",3,blue\n', "t.csv", None, None, ",", ())
    assert (
        frame["name"].tolist() == ["x", "y", "z, quoted"]
        and frame["size"].isna().sum() == 1
        and frame["colour"].isna().sum() == 1
    )


CELLS = {
    "float": st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    "int": st.one_of(st.integers(-(2**62), 2**62), st.integers(-(2**70), 2**70)).map(str),
    "int_or_gap": st.one_of(st.integers(-1000, 1000).map(str), st.just("")),
    "bool": st.sampled_from(["True", "False", "true", "FALSE"]),
    "text": st.one_of(
        st.sampled_from(["red", "blue", "NA", "null", "None", "n/a", "", "x y", "0", "1.5", "zz"]),
        st.text(alphabet="abc ,\"'é\n", min_size=1, max_size=6),
    ),
    "date": st.dates().map(str),
    "stamp": st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    "empty": st.just(""),
    "mixed": st.one_of(st.integers(0, 9).map(str), st.sampled_from(["7", "8", "late"])),
}


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


@pytest.mark.filterwarnings("error::FutureWarning")  # None where pandas' reader gives NaN is a difference
@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(CELLS)), min_size=1, max_size=6, unique=True).flatmap(
        lambda kinds: st.tuples(
            st.just(kinds),
            st.lists(st.tuples(*(CELLS[k] for k in kinds)), min_size=1, max_size=30),
            st.booleans(),
            st.sampled_from([(), ("zz",), ("-1",)]),
        )
    ),
    st.integers(1, 300),
)
@example((["int"], [("18446744073709551615",), ("1",)], True, ()), 4096)  # past int64: uint64 in pandas
@example(
    (["int", "text"], [("-1", "a"), ("99999999999999999999999", "b")], False, ()), 4096
)  # past uint64: text
@example((["text"], [("red",), (" ",)], False, ()), 4096)  # a line of blanks: skipped by pandas
@example(
    (["int_or_gap", "mixed"], [("", "7"), ("", "8"), ("3", "late")], True, ()), 20
)  # first lines: gaps, ints
def test_a_well_formed_csv_read_fast_is_the_frame_the_strict_reader_gives(case, types_from_bytes):
    """Arrow reads a well-formed CSV (a big file in a fraction of the strict path's time and memory); what it gives
    is, to the bit, what the strict pandas path gives: numbers, integers with gaps (floats),
    booleans, text with pandas' missing-value words and the declared na_values, quoted separators and line breaks,
    dates and times left as text, a column of nothing; whatever types the file's first `types_from_bytes` bytes
    suggest, and read from the bytes or from the file on disk."""
    from ml_assets.sources.table import _arrow_csv, _strict_csv

    kinds, rows, with_header, na_values = case
    lines = [",".join(csv_field(v) for v in row) for row in rows]
    data = ("\n".join(([",".join(kinds)] if with_header else []) + lines) + "\n").encode()
    columns = None if with_header else tuple(kinds)
    try:
        strict = _strict_csv(data, "t.csv", None, columns, ",", na_values)
    except SourceDataError:
        return  # not a table the strict reader takes (a file of blank values only)
    fast = parse_csv(data, "t.csv", None, columns, ",", na_values)
    pd.testing.assert_frame_equal(fast, strict, check_exact=True)
    arrow = _arrow_csv(data, columns, ",", na_values, types_from_bytes)
    if arrow is not None:
        pd.testing.assert_frame_equal(arrow, strict, check_exact=True)
    with tempfile.TemporaryDirectory() as folder:
        on_disk = Path(folder) / "t.csv"
        on_disk.write_bytes(data)
        from_disk = _arrow_csv(on_disk, columns, ",", na_values, types_from_bytes)
        assert (from_disk is None) == (arrow is None)
        pd.testing.assert_frame_equal(parse_csv(on_disk, "t.csv", None, columns, ",", na_values), strict)
    event("read by Arrow" if arrow is not None else "read by the strict path")


def test_a_csv_whose_first_lines_suggest_narrower_types_is_still_read_by_arrow():
    """The types the first lines settle (integers, a column of gaps) do not fit a later line (a decimal, text): the
    file is read again with the types of every line, by Arrow, as the strict reader reads it."""
    from ml_assets.sources.table import _arrow_csv, _strict_csv

    data = b"n,gaps,code\n" + b"1,,7\n" * 50 + b"2.5,x,late\n"
    fast = _arrow_csv(data, None, ",", (), types_from_bytes=64)
    assert fast is not None
    assert fast["n"].dtype == "float64" and fast["gaps"].iloc[-1] == "x" and fast["code"].iloc[-1] == "late"
    pd.testing.assert_frame_equal(fast, _strict_csv(data, "t.csv", None, None, ",", ()), check_exact=True)


def test_a_big_well_formed_csv_is_read_by_arrow_and_a_malformed_one_by_the_strict_path():
    from ml_assets.sources.table import _arrow_csv

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=5000),
            "n": rng.integers(0, 9, 5000),
            "shop": rng.choice(["a", "b", None], 5000),
            "day": pd.date_range("2020-01-01", periods=5000, freq="h").astype(str),
        }
    )
    data = frame.to_csv(index=False).encode()
    fast = _arrow_csv(data, None, ",", ())
    assert fast is not None
    assert fast["day"].tolist() == frame["day"].tolist()  # dates stay text
    assert (fast["shop"].isna() == frame["shop"].isna()).all()
    np.testing.assert_array_equal(
        fast["x"].to_numpy(), frame["x"].to_numpy()
    )  # every digit written, read back
    lines = data.split(b"\n")
    lines[2] = lines[2].split(b",", 1)[1]  # the second row's first field gone
    short = b"\n".join(lines)
    assert _arrow_csv(short, None, ",", ()) is None
    with pytest.raises(SourceDataError, match="fields where the header has 4"):
        parse_csv(short, "t.csv", None, None, ",", ())


def test_a_local_table_is_read_from_disk_as_its_packed_copy_is_read_from_memory(tmp_path, monkeypatch):
    """A CSV on disk is parsed from the file (not held whole), a .gz copy from its unpacked bytes: the same frame;
    a declared SHA-256 is checked on the file as read; a file that changes while it is read is not taken (a
    transient fault: the next attempt reads it whole)."""
    import gzip
    import hashlib

    from ml_assets.sources import table as table_source
    from ml_assets.sources.base import SourceUnavailableError
    from ml_assets.sources.table import TableSpec

    data = b"x,shop,y\n" + b"".join(f"{i / 7},s{i % 5},{i % 2}\n".encode() for i in range(500))
    plain, packed = tmp_path / "t.csv", tmp_path / "t.csv.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))

    def load(path, **settings):
        return (
            TableSpec(kind="table", path=str(path), **settings).build().load(None, str(tmp_path / "cache"))[0]
        )

    pd.testing.assert_frame_equal(load(plain), load(packed), check_exact=True)
    pd.testing.assert_frame_equal(load(plain), load(f"file://{plain}"), check_exact=True)
    assert load(plain, sha256=hashlib.sha256(data).hexdigest())["x"].size == 500
    with pytest.raises(SourceDataError, match=f"its SHA-256 is {hashlib.sha256(data).hexdigest()}"):
        load(plain, sha256="0" * 64)

    parse = table_source.parse_table

    def parse_while_the_file_grows(source, *args):
        frame = parse(source, *args)
        with open(plain, "ab") as file:
            file.write(b"9,s9,1\n")
        return frame

    monkeypatch.setattr(table_source, "parse_table", parse_while_the_file_grows)
    with pytest.raises(SourceUnavailableError, match="t.csv: the file changed while it was read"):
        load(plain)
