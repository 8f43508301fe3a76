"""Shared fixtures: the real TLC files served over HTTP on 127.0.0.1, and the real pipelines
loaded from their defs.yaml with test overrides."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
import uuid
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ml_assets_tests.pipelines import REPO_ROOT, Pipeline, load_pipeline

BUNDLED_HEART = REPO_ROOT / "ml_assets" / "datasets" / "uci_heart" / "processed.cleveland.data"  # CC BY 4.0


@pytest.fixture(scope="session")
def tlc_dir() -> Path:
    """The real TLC months (ml_assets_tests/tlc_files.py: a mirror, else downloaded and checked by sha256). Without
    them the test skips naming why, or fails under ML_ASSETS_REQUIRE_DATA=1 (CI)."""
    from ml_assets_tests.tlc_files import DataUnavailableError, tlc_folder

    try:
        return tlc_folder()
    except DataUnavailableError as exc:
        why = (
            f"the real TLC files are in no mirror (ML_ASSETS_TLC_DIR, ../shared/data/tlc) and could not be "
            f"downloaded: {exc}"
        )
        if os.environ.get("ML_ASSETS_REQUIRE_DATA") == "1":
            pytest.fail(why + " (ML_ASSETS_REQUIRE_DATA=1)")
        pytest.skip(why)


class FaultyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; `faults[name] = n` answers the next n requests for `name` with 503.
    Every request is recorded in `requests` as (method, file name)."""

    faults: dict[str, int]
    requests: list[tuple[str, str]]

    def do_HEAD(self):  # noqa: N802
        self.requests.append(("HEAD", self.path.rsplit("/", 1)[-1]))
        super().do_HEAD()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        name = self.path.rsplit("/", 1)[-1]
        self.requests.append(("GET", name))
        if self.faults.get(name, 0) > 0:
            self.faults[name] -= 1
            self.send_error(503, "injected fault")
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep test output quiet
        pass


class TripServer:
    def __init__(self, root: Path):
        self.root = root
        self.faults: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        handler = partial(
            type("Handler", (FaultyHandler,), {"faults": self.faults, "requests": self.requests}),
            directory=str(root),
        )
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{{color}}_tripdata_{{month}}.parquet"

    def __enter__(self) -> TripServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served_dir(tmp_path: Path, tlc_dir: Path) -> Path:
    """A folder served over HTTP: copies of the real green months (tests may break them)."""
    root = tmp_path / "served"
    root.mkdir()
    for path in tlc_dir.glob("green_tripdata_*.parquet"):
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture
def trip_server(served_dir: Path):
    with TripServer(served_dir) as server:
        yield server


@pytest.fixture(autouse=True)
def no_mlflow_uri_from_earlier_tests(monkeypatch):
    """Every test starts with the embedded store: MLflow exports the URIs it is given to the
    process environment, where the next test's resources would take them for the user's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def taxi(data_dir: Path, trip_server: TripServer) -> Pipeline:
    """The real nyc_taxi_green pipeline, its URL template pointed at the local server."""
    return load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": trip_server.url_template},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2024-03"}},
        automation={"ingest_retries": 0},
    )


@pytest.fixture
def flights(data_dir: Path) -> Pipeline:
    return load_pipeline("nyc_flights", data_dir)


@pytest.fixture
def iris(data_dir: Path) -> Pipeline:
    return load_pipeline("iris", data_dir)


@pytest.fixture
def heart(data_dir: Path) -> Pipeline:
    return load_pipeline("heart_disease", data_dir)


@pytest.fixture
def instance():
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def write_truncated(source: Path, dest: Path) -> None:
    data = source.read_bytes()
    dest.write_bytes(data[: len(data) // 2])


def write_without_column(source: Path, dest: Path, column: str) -> None:
    table = pq.read_table(source)
    pq.write_table(table.drop_columns([column]), dest)


def write_empty(source: Path, dest: Path) -> None:
    table = pq.read_table(source)
    pq.write_table(table.slice(0, 0), dest)


TIERS = {"unit": "unit", "integration": "integration", "system": "system"}


def pytest_collection_modifyitems(config, items):
    """Each test is marked by its folder: unit (pure functions on frames they build, seconds), integration (real
    pipelines materialized through Dagster), system (daemon, webserver, browser, production services)."""
    for item in items:
        parts = item.path.relative_to(Path(__file__).parent).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, TIERS[parts[0]]))


@pytest.fixture
def postgres_source():
    """A database and a reader role with a sentinel password on the machine's PostgreSQL, dropped afterwards."""
    import pandas as pd
    import sqlalchemy

    admin = sqlalchemy.create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    tag = uuid.uuid4().hex[:10]
    database, role, password = f"ml_assets_sql_{tag}", f"ml_assets_reader_{tag}", f"pw-sentinel-{tag}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {database}")
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}")
    try:
        from ml_assets.sources.flights import read_flights
        from ml_assets.sources.table import package_file

        penguins = pd.read_csv(package_file("package://palmerpenguins/data/penguins.csv"))
        flights = read_flights()
        flights = flights[flights["month"] <= 2].assign(
            scheduled=pd.to_datetime(flights[["year", "month", "day"]])
            + pd.to_timedelta(flights["sched_dep_time"] // 100, unit="h")
        )
        with engine.begin() as connection:
            penguins.to_sql("penguins", connection, index=False)
            flights.to_sql("flights", connection, index=False, chunksize=20_000)
            connection.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        yield f"postgresql://{role}:{password}@127.0.0.1:5432/{database}", password
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()
