"""Dagster definitions of the privacy group."""
