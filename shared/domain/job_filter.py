"""What a listing's `$filter` asks for: conditions `field eq value`, all of which a job must meet.

`shared.api.filters` reads them from the filter's text, each value in the form its field compares (the canonical
spelling of a state or job type, the case key of a tracking number); `shared.storage.entities` compares them
with the columns every job write stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FilterField(StrEnum):
    """A field a filter may compare, as the filter spells it."""

    TYPE = "type"  # properties.jobType
    TRACKING_NUMBER = "trackingnumber"  # properties.deliveryPackage.trackingNumber
    STATE = "state"  # properties.state


@dataclass(frozen=True)
class Condition:
    """`field eq value`, with the value in the form its field compares."""

    field: FilterField
    value: str


@dataclass(frozen=True)
class JobFilter:
    """The conditions of a `$filter`, all of which a job must meet (in the order written)."""

    conditions: tuple[Condition, ...]

    @property
    def matches_nothing(self) -> bool:
        """One field asked to equal two different values: no job can."""
        values: dict[FilterField, str] = {}
        for condition in self.conditions:
            if values.setdefault(condition.field, condition.value) != condition.value:
                return True
        return False
