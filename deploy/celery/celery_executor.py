"""Example: run this code location's steps on Celery workers (dagster-celery).

Not imported by the package. To use it, ``pip install dagster-celery`` everywhere, and in
``benchmarking_assets/definitions.py`` replace ``executor=dg.in_process_executor`` with
``executor=celery_executor_for_benchmarking`` (below). Start workers on as many machines as
wanted, each with this repository installed and the same environment (DATABASE_URL on a
shared PostgreSQL warehouse, DAGSTER_HOME with deploy/celery/dagster.yaml)::

    dagster-celery worker start -A dagster_celery.app -y deploy/celery/celery.yaml

Steps of every run are then queued on the broker and picked up by any worker; the run worker
on the daemon's host only coordinates.
"""

from dagster_celery import celery_executor

celery_executor_for_benchmarking = celery_executor.configured(
    {
        "broker": {"env": "CELERY_BROKER_URL"},  # e.g. redis://redis:6379/0 or amqp://…
        "backend": {"env": "CELERY_BACKEND_URL"},  # e.g. redis://redis:6379/1
        "include": ["benchmarking_assets.definitions"],
    }
)
