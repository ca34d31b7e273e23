"""Dagster definitions of the retention group."""
