"""Dagster definitions of the raw group."""
