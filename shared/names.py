"""Job identity: route names validated, compared case-insensitively, and turned into table keys."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadRequest

PROVIDER = "Microsoft.ImportExport"
RESOURCE_TYPE = f"{PROVIDER}/jobs"

_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# ARM's rule for resource groups: letters (Unicode too), digits, '_', '-', '.', '(' and ')';
# never ':', which is what separates the group from the job in a row key.
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{1,90}$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", re.ASCII)
ROW_KEY_SEPARATOR = ":"


def _describe(value: str) -> str:
    shown = value if len(value) <= 100 else value[:100] + "..."
    return repr(shown)


def validate_subscription_id(value: str) -> str:
    if not _SUBSCRIPTION.fullmatch(value or ""):
        raise BadRequest("InvalidSubscriptionId", f"The subscription id {_describe(value)} is not a valid GUID.", "subscriptionId")
    return value


def validate_resource_group(value: str) -> str:
    if not _RESOURCE_GROUP.fullmatch(value or "") or value.endswith("."):
        raise BadRequest(
            "InvalidResourceGroupName",
            f"The resource group name {_describe(value)} is invalid: use 1 to 90 letters, digits, "
            "'_', '-', '.', '(' or ')', not ending with '.'.",
            "resourceGroupName",
        )
    return value


def validate_job_name(value: str) -> str:
    if not _JOB_NAME.fullmatch(value or "") or value.endswith("."):
        raise BadRequest(
            "InvalidResourceName",
            f"The job name {_describe(value)} is invalid: use 1 to 64 ASCII letters, digits, '_', '-' or '.', "
            "starting with a letter or digit and not ending with '.'.",
            "jobName",
        )
    return value


@dataclass(frozen=True)
class Scope:
    """Where a listing looks: one subscription, or one resource group in it."""

    subscription_id: str
    resource_group: str | None = None

    @classmethod
    def parse(cls, subscription_id: str, resource_group: str | None = None) -> "Scope":
        validate_subscription_id(subscription_id)
        if resource_group is not None:
            validate_resource_group(resource_group)
        return cls(subscription_id, resource_group)

    @property
    def partition_key(self) -> str:
        return self.subscription_id.lower()

    @property
    def row_key_prefix(self) -> str | None:
        if self.resource_group is None:
            return None
        return self.resource_group.lower() + ROW_KEY_SEPARATOR


@dataclass(frozen=True)
class JobKey:
    """A job's address; names keep the caller's casing but compare case-insensitively, as in ARM."""

    subscription_id: str
    resource_group: str
    job_name: str

    @classmethod
    def parse(cls, subscription_id: str, resource_group: str, job_name: str) -> "JobKey":
        validate_subscription_id(subscription_id)
        validate_resource_group(resource_group)
        validate_job_name(job_name)
        return cls(subscription_id, resource_group, job_name)

    @property
    def partition_key(self) -> str:
        return self.subscription_id.lower()

    @property
    def row_key(self) -> str:
        return f"{self.resource_group.lower()}{ROW_KEY_SEPARATOR}{self.job_name.lower()}"

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{RESOURCE_TYPE}/{self.job_name}"
        )
