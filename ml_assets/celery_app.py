"""The Celery app the production profile's workers run:

    celery -A ml_assets.celery_app worker -Q dagster -n w1@%h --concurrency 1

Broker (RabbitMQ) and result backend (Redis) come from ML_ASSETS_CELERY_BROKER_URL /
ML_ASSETS_CELERY_BACKEND_URL and stay in memory; a worker without them refuses to start, naming the
variable (it never falls back to an unauthenticated local broker). (`dagster-celery worker start -y
config.yaml` would write the resolved broker URL, password included, into a file under DAGSTER_HOME.)
The settings (late acknowledgement, requeue on a lost worker, time limit, a step process replaced once a step
took it above a memory limit) are the ones the runs' executor uses, and the step task is fenced by its run: see
ml_assets.orchestration.celery. Before the pool starts, the worker imports what steps use and loads the
definitions once (`preload_for_steps`), so a step process starts with them.
"""

import sys

from celery import signals
from dagster_celery.make_app import make_app

from ml_assets.orchestration.celery import (
    BACKEND_ENV,
    BROKER_ENV,
    CeleryLimits,
    create_step_task,
    preload_for_steps,
    required_url,
)

app = make_app({"broker": required_url(BROKER_ENV), "backend": required_url(BACKEND_ENV)})
app.conf.update(CeleryLimits.from_env().celery_settings())

execute_plan = create_step_task(app)


@signals.worker_init.connect
def _preload_before_the_pool_forks(**_):
    """In the worker's main process: every step's process is forked from it with the imports done."""
    for problem in preload_for_steps():
        print(f"[ml_assets] not preloaded for the steps: {problem}", file=sys.stderr, flush=True)
