"""Names of the environment variables the production profile reads (values never leave the environment)."""

CELERY_BROKER_ENV = "ML_ASSETS_CELERY_BROKER_URL"
CELERY_BACKEND_ENV = "ML_ASSETS_CELERY_BACKEND_URL"
