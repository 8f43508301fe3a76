"""How many native threads (OpenMP, BLAS) a step's scikit-learn may use.

Dagster already runs steps side by side (the multiprocess executor one process per CPU, Celery one per worker slot),
and a 2-CPU machine also runs the webserver, the daemon and the user's browser. scikit-learn's boosted trees start
one OpenMP thread per CPU whatever else runs, and OpenMP threads that wait on a thread without a CPU spin: measured
fitting the flights' model on one month (27,075 rows, `python3 dev.py bench native_threads`), 0.8 s quiet, but 19 s
beside two busy processes and 55 s beside eight, against 1.3 s and 3.9 s with one thread. Quiet, one thread costs
little (0.6 s for the month, 2.4 s instead of 2.1 s for six months). So steps use one by default; a machine given to
one run at a time can raise it (ML_ASSETS_NATIVE_THREADS).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr


class NativeThreads(dg.ConfigurableResource):
    """Limits the OpenMP and BLAS threads of every step that fits or scores a model, for the step's duration."""

    threads: int = Field(default=1, ge=1, description="Native threads per step (ML_ASSETS_NATIVE_THREADS); 1 by default.")
    _limits: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # a limit reaches only the libraries already loaded: load scikit-learn's OpenMP runtime (and numpy's BLAS) first
        import sklearn.utils._openmp_helpers  # noqa: F401
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=self.threads)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
