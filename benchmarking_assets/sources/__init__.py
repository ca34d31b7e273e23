"""Data-source layer: the Education Data Portal API client, its offline sample, and the
derivation of raw district columns (``docs/data.md``). Plain Python, httpx and Polars: the
Dagster resource that picks a source is ``benchmarking_assets.defs.resources``.
"""

from benchmarking_assets.sources.client import (
    DEFAULT_API_URL,
    EducationDataClient,
    EducationDataCountMismatch,
    EducationDataCoverageError,
    EducationDataError,
    EducationDataHTTPError,
    EducationDataResponseError,
    EducationDataTransportError,
    FetchResult,
    Page,
)
from benchmarking_assets.sources.coverage import ENDPOINTS, Endpoint, api_years
from benchmarking_assets.sources.district_year import (
    RawDistrictYear,
    derive_district_year,
    endpoints_for_year,
    fetch_district_year,
)
from benchmarking_assets.sources.normalize import MISSING_CODES, Field, parse_rows
from benchmarking_assets.sources.sample import (
    SAMPLE_BASE_URL,
    SAMPLE_YEARS,
    SampleTransport,
    sample_client,
)

__all__ = [
    "DEFAULT_API_URL",
    "ENDPOINTS",
    "MISSING_CODES",
    "SAMPLE_BASE_URL",
    "SAMPLE_YEARS",
    "EducationDataClient",
    "EducationDataCountMismatch",
    "EducationDataCoverageError",
    "EducationDataError",
    "EducationDataHTTPError",
    "EducationDataResponseError",
    "EducationDataTransportError",
    "Endpoint",
    "FetchResult",
    "Field",
    "Page",
    "RawDistrictYear",
    "SampleTransport",
    "api_years",
    "derive_district_year",
    "endpoints_for_year",
    "fetch_district_year",
    "parse_rows",
    "sample_client",
]
