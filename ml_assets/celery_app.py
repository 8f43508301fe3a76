"""The Celery app the production profile's workers run:

    celery -A ml_assets.celery_app worker -Q dagster -n w1@%h --concurrency 1

Broker and result backend come from ML_ASSETS_CELERY_BROKER_URL / ML_ASSETS_CELERY_BACKEND_URL
and stay in memory. (`dagster-celery worker start -y config.yaml` does the same but writes the
resolved broker URL, password included, into a file under DAGSTER_HOME.) The settings (late
acknowledgement, requeue on a lost worker, time limit, one task per child process) are the ones
the runs' executor uses: ml_assets.orchestration.celery.CeleryLimits.
"""

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from ml_assets.orchestration.celery import BACKEND_ENV, BROKER_ENV, CeleryLimits

app = make_app(
    {"broker": os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/0"), "backend": os.environ.get(BACKEND_ENV, "redis://127.0.0.1:6379/1")}
)
app.conf.update(CeleryLimits.from_env().celery_settings())

execute_plan = create_task(app)
