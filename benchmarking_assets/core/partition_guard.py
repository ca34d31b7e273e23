"""Never replace a loaded partition with (almost) nothing: the rule, as a pure function.

A source can answer a state-year with nothing and look healthy: a directory page with
``count: 0``, or every row from another state (set aside, rightly), leaves a partition of 49
districts with 0. Written as it is, that replaces good data with an empty partition. So a
re-load that would lose more than ``max_loss`` of the districts the partition holds *from the
same source* is refused, unless forced (``docs/data-sources.md``, "Refusing a loss"). A first
load, a growing partition, and a change of source (sample to api) are never refused.
"""

from __future__ import annotations

# Same tolerance as the district_count_stable check between consecutive years.
DEFAULT_MAX_DISTRICT_LOSS = 0.20


class DistrictLossError(ValueError):
    """A re-load would lose too many of a partition's districts."""

    def __init__(self, message: str, *, partition_key: str, loaded: int, incoming: int) -> None:
        super().__init__(message)
        self.partition_key = partition_key
        self.loaded = loaded
        self.incoming = incoming


def check_district_loss(
    partition_key: str,
    *,
    loaded: int,
    incoming: int,
    max_loss: float = DEFAULT_MAX_DISTRICT_LOSS,
    allowed: bool = False,
    force_hint: str = "allow_district_loss: true",
) -> float:
    """The share of ``loaded`` districts the re-load loses (0 when it loses none); raises
    :class:`DistrictLossError` when that share exceeds ``max_loss`` and ``allowed`` is False.

    ``loaded``: districts the partition holds now (from the source being loaded);
    ``incoming``: districts the new load would write.
    """
    if not 0 <= max_loss <= 1:
        raise ValueError(f"max_loss must be a share between 0 and 1, got {max_loss!r}")
    if loaded <= 0 or incoming >= loaded:
        return 0.0
    loss = (loaded - incoming) / loaded
    if loss > max_loss and not allowed:
        raise DistrictLossError(
            f"refusing to replace partition {partition_key}: the source now gives {incoming:,} "
            f"district(s) where the warehouse holds {loaded:,} (a loss of {loss:.0%}, more "
            f"than the {max_loss:.0%} allowed). The previous rows are kept. If the source is "
            f"right, re-run with {force_hint}",
            partition_key=partition_key,
            loaded=loaded,
            incoming=incoming,
        )
    return loss
