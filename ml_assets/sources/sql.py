"""`kind: sql`: a table or query in any database SQLAlchemy reaches, the URL read from the environment at run time.

The URL (with its password) never appears in the YAML, the UI, metadata or an error message: messages show it with
the password masked. Monthly: a `time_column` splits the rows by month in the database (a WHERE on a half-open range).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from ml_assets.sources.base import (
    DataSource,
    MonthNotAvailableError,
    SourceDataError,
    SourceSpecBase,
    SourceUnavailableError,
)

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class SqlSpec(SourceSpecBase):
    """`kind: sql`: a query or a table through SQLAlchemy."""

    kind: Literal["sql"] = Field(description="A database table or query via SQLAlchemy.")
    url_env: str = Field(
        description="Name of the environment variable holding the SQLAlchemy URL (e.g. postgresql://user:pw@host/db); "
        "read at run time, never shown."
    )
    table: str | None = Field(
        default=None, description="A table name (schema.table allowed); or give `query`."
    )
    query: str | None = Field(default=None, description="A SELECT statement; or give `table`.")
    time_column: str | None = Field(
        default=None, description="A timestamp column: monthly pipelines read one month of rows."
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Connection timeout, seconds.")

    @model_validator(mode="after")
    def _one_of(self) -> SqlSpec:
        if bool(self.table) == bool(self.query):
            raise ValueError("source.table / source.query: give exactly one of them")
        if self.table and not TABLE_NAME.match(self.table):
            raise ValueError(
                f"source.table={self.table!r} is not allowed: a table name, letters, digits and _ "
                "(schema.table allowed)"
            )
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", self.url_env, re.IGNORECASE):
            raise ValueError(
                f"source.url_env={self.url_env!r} is not allowed: the NAME of an environment variable, not the URL"
            )
        return self

    def monthly_ready(self) -> str | None:
        return None if self.time_column else "a sql source is monthly by source.time_column"

    def build(self) -> DataSource:
        return SqlSource(self.url_env, self.table, self.query, self.time_column, self.timeout_s)


def engine_url(raw: str):
    """The URL SQLAlchemy will use. `postgresql://` means psycopg 3 to SQLAlchemy 2.1; use psycopg2 where 3
    is absent."""
    import importlib.util

    from sqlalchemy.engine import make_url

    url = make_url(raw)
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        url = url.set(drivername="postgresql+psycopg2")
    return url


def masked(text: str, url) -> str:
    """`text` with the URL's password (and the URL) replaced by a masked form."""
    if url.password:
        text = text.replace(str(url.password), "***")
    return text


@dataclass(frozen=True)
class SqlSource(DataSource):
    url_env: str
    table: str | None
    query: str | None
    time_column: str | None
    timeout_s: float = 60.0

    label: str = "SQL"
    offline: bool = True

    def _url(self):
        raw = os.environ.get(self.url_env)
        if not raw:
            raise SourceDataError(
                "-",
                f"${self.url_env}",
                f"the environment variable {self.url_env} (source.url_env) is not set",
            )
        try:
            return engine_url(raw)
        except Exception:  # noqa: BLE001 - the message could hold the URL
            raise SourceDataError(
                "-", f"${self.url_env}", f"{self.url_env} does not hold a SQLAlchemy URL"
            ) from None

    def location(self, partition: str | None) -> str:
        try:
            shown = self._url().render_as_string(hide_password=True)
        except SourceDataError:
            shown = f"${self.url_env}"
        return f"{shown} {self.table or 'query'}"

    def statement(self, partition: str | None):
        from sqlalchemy import text

        base = (
            f"SELECT * FROM {self.table}"
            if self.table
            else f"SELECT * FROM ({self.query.rstrip().rstrip(';')}) AS source_rows"
        )
        if partition and self.time_column:
            from ml_assets.months import month_bounds

            start, end = month_bounds(partition)
            column = self.time_column.replace('"', "")
            return text(f'{base} WHERE "{column}" >= :start AND "{column}" < :end'), {
                "start": start.to_pydatetime(),
                "end": end.to_pydatetime(),
            }
        return text(base), {}

    def read(self, partition: str | None) -> pd.DataFrame:
        import pandas as pd
        import sqlalchemy
        from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError

        url = self._url()
        where = self.location(partition)
        statement, params = self.statement(partition)
        connect_args = (
            {"connect_timeout": int(self.timeout_s)} if url.get_backend_name() == "postgresql" else {}
        )
        engine = sqlalchemy.create_engine(
            url, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool, hide_parameters=True
        )
        try:
            with engine.connect() as connection:
                frame = pd.read_sql(statement, connection, params=params)
        except OperationalError as exc:  # cannot connect, or the server went away: worth a retry
            reason = masked(str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__, url)
            raise SourceUnavailableError(f"{where}: {reason}") from None
        except (ProgrammingError, DBAPIError) as exc:  # the query or table is wrong: not retried
            reason = masked(str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__, url)
            raise SourceDataError(
                partition or "-", where, f"the database refused the query: {reason}"
            ) from None
        except SQLAlchemyError as exc:
            raise SourceDataError(
                partition or "-", where, masked(f"{type(exc).__name__}: {exc}", url)
            ) from None
        finally:
            engine.dispose()
        if self.time_column and self.time_column in frame.columns:
            frame[self.time_column] = pd.to_datetime(frame[self.time_column])
        return frame

    def fingerprint(self, partition: str | None) -> str | None:
        """A content hash of the rows (the sensor re-reads them: meant for tables that fit in memory)."""
        import pandas as pd

        try:
            frame = self.read(partition)
        except MonthNotAvailableError:
            return None
        if frame.empty:
            return None
        return (
            "sha256:"
            + hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
        )

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        frame = self.read(partition)
        if frame.empty:
            if partition:
                raise MonthNotAvailableError(
                    partition, self.location(partition), f"no row's {self.time_column} falls in {partition}"
                )
            raise SourceDataError("-", self.location(partition), "the query returned no rows")
        return frame, self.location(partition)
