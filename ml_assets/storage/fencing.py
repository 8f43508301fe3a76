"""A step of a run that is no longer running commits nothing.

A run can end while one of its steps still runs elsewhere: its run worker was killed and the code server or the
run monitoring failed it, or it was cancelled; run retries then start the same steps again in a new run. The old
step must not write over the retry's files nor register a second model version for the month. Every commit checks
its run first: the journal before it replaces a stored file, the model step before it registers a version, the
champion step before it moves the alias. On Celery the step's task also watches its run and stops the step when
the run ends (orchestration/celery.py), and a failed run's in-flight tasks are revoked (sensors.py).
"""

from __future__ import annotations

import dagster as dg


class RunNoLongerRunningError(dg.Failure):
    """The step's run has ended (failed, cancelled) while the step ran: nothing it made is committed."""

    def __init__(self, run_id: str, status: str, what: str):
        super().__init__(
            f"run {run_id} is {status}, no longer running: {what} is not committed (a retry of the run makes it)",
            allow_retries=False,
        )


def refuse_unless_running(instance: dg.DagsterInstance | None, run_id: str, what: str) -> None:
    """Raise RunNoLongerRunningError unless the run is STARTED (a bare test context, with no instance, passes)."""
    if instance is None:
        return
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status != dg.DagsterRunStatus.STARTED:
        raise RunNoLongerRunningError(run_id, run.status.value, what)
