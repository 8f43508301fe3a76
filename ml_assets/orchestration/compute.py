"""What a step that fits or scores models may use: native threads per fit, and fits at once.

Native threads. Dagster already runs steps side by side (the multiprocess executor one process per CPU, Celery one
per worker slot), and a 2-CPU machine also runs the webserver, the daemon and the user's browser. scikit-learn's
boosted trees start one OpenMP thread per CPU whatever else runs, and OpenMP threads that wait on a thread without a
CPU spin, so a fit beside busy processes takes many times longer with a thread per CPU than with one, while on a
quiet machine one thread costs little (`python3 dev.py bench native_threads` measures both). So a fit uses one by
default; a machine given to one run at a time can raise it (ML_ASSETS_NATIVE_THREADS).

Fits at once. A step that fits many independent models (a monthly range's models and the walk-forward fits its
window choice compares, the backtest's) runs `parallel_fits` of them side by side, each in a thread of its own
held to `native_threads`. Threads, not processes: the fits share the step's frames, scikit-learn's trees release the
GIL while they fit and predict, and a thread that waits for a CPU sleeps rather than spins; the predictions are the
same either way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field, PrivateAttr

T = TypeVar("T")
R = TypeVar("R")


class StepCompute(dg.ConfigurableResource):
    """Holds a step's OpenMP and BLAS threads to `native_threads`, and runs its independent fits
    `parallel_fits` at once."""

    native_threads: int = Field(
        default=1, ge=1, description="Native threads per fit (ML_ASSETS_NATIVE_THREADS); 1 by default."
    )
    parallel_fits: int = Field(
        default=1,
        ge=1,
        description="Models a step fits at once, a thread each (ML_ASSETS_PARALLEL_FITS); 1 by default.",
    )
    _limits: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # a limit reaches only the libraries already loaded: load scikit-learn's OpenMP runtime (and numpy's BLAS) first
        import sklearn.utils._openmp_helpers  # noqa: F401
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=self.native_threads)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """`work` on every item, results in order as they are needed; `parallel_fits` at a time, each thread held to
        `native_threads`."""
        return map_in_threads(work, list(items), self.parallel_fits, self.native_threads)


def map_in_threads(work: Callable[[T], R], items: list[T], workers: int, native_threads: int) -> Iterator[R]:
    """`work` on every item, yielded in order. At most `workers` items run at once and `workers` more finished ones
    wait to be taken, so a caller that stores each result (a month's model and frames) holds a few, not all. On an
    error, or when the caller stops early, the items not started are dropped.

    OpenMP's thread count is a per-thread setting and a new thread starts with one per CPU, so each worker sets its
    own (a limit set in the step's thread does not reach it)."""
    if workers <= 1 or len(items) <= 1:
        yield from (work(item) for item in items)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import ThreadpoolController

    # found once: finding the loaded native libraries took ~20 ms, which `threadpool_limits` pays at every call
    libraries = ThreadpoolController()

    def limited(item: T) -> R:
        with libraries.limit(limits=native_threads, user_api="openmp"):
            return work(item)

    waiting = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ml_assets-fit") as pool:
        running = deque(pool.submit(limited, item) for item in itertools.islice(waiting, 2 * workers))
        try:
            while running:
                result = running.popleft().result()
                for item in itertools.islice(waiting, 1):
                    running.append(pool.submit(limited, item))
                yield result
        finally:
            for future in running:
                future.cancel()
