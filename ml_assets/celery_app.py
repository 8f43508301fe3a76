"""The Celery app the production profile's workers run:

    celery -A ml_assets.celery_app worker -Q dagster -n w1@%h --concurrency 1

Broker (RabbitMQ) and result backend (Redis) come from ML_ASSETS_CELERY_BROKER_URL /
ML_ASSETS_CELERY_BACKEND_URL and stay in memory; a worker without them refuses to start, naming the
variable (it never falls back to an unauthenticated local broker). (`dagster-celery worker start -y
config.yaml` would write the resolved broker URL, password included, into a file under DAGSTER_HOME.)
The settings (late acknowledgement, requeue on a lost worker, time limit, one task per child process)
are the ones the runs' executor uses, and the step task is fenced by its run: see
ml_assets.orchestration.celery.
"""

from dagster_celery.make_app import make_app

from ml_assets.orchestration.celery import (
    BACKEND_ENV,
    BROKER_ENV,
    CeleryLimits,
    create_step_task,
    required_url,
)

app = make_app({"broker": required_url(BROKER_ENV), "backend": required_url(BACKEND_ENV)})
app.conf.update(CeleryLimits.from_env().celery_settings())

execute_plan = create_step_task(app)
