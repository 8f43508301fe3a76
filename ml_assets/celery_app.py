"""The Celery app the production profile's workers run:

    celery -A ml_assets.celery_app worker -Q dagster -n w1@%h --concurrency 1 --max-tasks-per-child 1

Broker and result backend come from ML_ASSETS_CELERY_BROKER_URL / ML_ASSETS_CELERY_BACKEND_URL
and stay in memory. (`dagster-celery worker start -y config.yaml` does the same but writes the
resolved broker URL, password included, into a file under DAGSTER_HOME.) One task per child
process: a step never inherits the previous step's MLflow active run or module state.
"""

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from ml_assets.deployment import CELERY_BACKEND_ENV as BACKEND_ENV
from ml_assets.deployment import CELERY_BROKER_ENV as BROKER_ENV

app = make_app(
    {"broker": os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0"), "backend": os.environ.get(BACKEND_ENV, "redis://127.0.0.1:6379/1")}
)
app.conf.update(worker_prefetch_multiplier=1, worker_max_tasks_per_child=1, broker_connection_retry_on_startup=True)

execute_plan = create_task(app)
