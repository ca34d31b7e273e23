"""The pure core: metric catalog, benchmarks, quality rules, peer groups, suppression,
differential privacy, submission validation and report content. No Dagster, no I/O.
"""
