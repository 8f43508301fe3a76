"""Dagster's own floor for one month: two trivial monthly assets, for `benchmarks.cli_month`."""

import dagster as dg

months = dg.MonthlyPartitionsDefinition(start_date="2013-01", end_date="2014-01", fmt="%Y-%m")


@dg.asset(partitions_def=months)
def upstream() -> int:
    return 1


@dg.asset(partitions_def=months)
def downstream(upstream: int) -> int:
    return upstream + 1


defs = dg.Definitions(assets=[upstream, downstream])
