"""The Dagster wiring, and only it: a pipeline's plan, its assets, checks, automation conditions, sensors,
schedules, partitions and alerts. Below it is pure pandas/scikit-learn (tasks/, learning/, sources/, monitoring.py);
above it the components that build it from YAML (components/)."""
