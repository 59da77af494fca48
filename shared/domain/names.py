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


def _simple_upper(char: str) -> str:
    # str.upper() is Unicode's full mapping ('ß' -> 'SS'); ARM uses the one-character simple mapping, which is the
    # title case where the full upper case has several characters ('ᾳ' -> 'ᾼ'), and otherwise the character itself.
    upper = char.upper()
    if len(upper) == 1:
        return upper
    title = char.title()
    return title if len(title) == 1 else char


def _simple_lower(char: str) -> str:
    lower = char.lower()
    return lower if len(lower) == 1 else char


def case_key(name: str) -> str:
    """The form under which two names are equal exactly when ARM's ordinal, case-insensitive comparison says so.

    ARM upper-cases each character by Unicode's simple mapping and compares code points; like .NET, no
    character outside ASCII folds onto an ASCII one (the Kelvin sign is not 'k', the dotless 'ı' not 'I').
    The key is each character's class written in lower case where that is one character of the same
    class (so ASCII names keep the lower-case keys they always had), else in upper case.
    """
    key = []
    for char in name:
        if char.isascii():
            key.append(char.lower())
            continue
        upper = _simple_upper(char)
        if upper.isascii():
            upper = char
        lower = _simple_lower(upper)
        key.append(lower if not lower.isascii() and _simple_upper(lower) == upper else upper)
    return "".join(key)


@dataclass(frozen=True)
class NameRule:
    pattern: re.Pattern[str]
    code: str
    what: str
    rule: str
    target: str

    def check(self, value: str) -> str:
        # A trailing '.' is what ARM refuses in every name; the patterns allow it elsewhere.
        if not self.pattern.fullmatch(value or "") or value.endswith("."):
            shown = value if len(value) <= 100 else value[:100] + "..."
            raise BadRequest(f"The {self.what} {shown!r} is invalid: {self.rule}.", code=self.code, target=self.target)
        return value


SUBSCRIPTION_ID = NameRule(_SUBSCRIPTION, "InvalidSubscriptionId", "subscription id", "it must be a GUID", "subscriptionId")
RESOURCE_GROUP = NameRule(
    _RESOURCE_GROUP,
    "InvalidResourceGroupName",
    "resource group name",
    "use 1 to 90 letters, digits, '_', '-', '.', '(' or ')', not ending with '.'",
    "resourceGroupName",
)
JOB_NAME = NameRule(
    _JOB_NAME,
    "InvalidResourceName",
    "job name",
    "use 1 to 64 ASCII letters, digits, '_', '-' or '.', starting with a letter or digit and not ending with '.'",
    "jobName",
)


@dataclass(frozen=True)
class Scope:
    """Where a listing looks: one subscription, or one resource group in it."""

    subscription_id: str
    resource_group: str | None = None

    @classmethod
    def parse(cls, subscription_id: str, resource_group: str | None = None) -> "Scope":
        SUBSCRIPTION_ID.check(subscription_id)
        if resource_group is not None:
            RESOURCE_GROUP.check(resource_group)
        return cls(subscription_id, resource_group)

    @property
    def partition_key(self) -> str:
        return case_key(self.subscription_id)

    @property
    def row_key_prefix(self) -> str | None:
        if self.resource_group is None:
            return None
        return case_key(self.resource_group) + ROW_KEY_SEPARATOR


@dataclass(frozen=True)
class JobKey:
    """A job's address; names keep the caller's casing but compare case-insensitively, as in ARM."""

    subscription_id: str
    resource_group: str
    job_name: str

    @classmethod
    def parse(cls, subscription_id: str, resource_group: str, job_name: str) -> "JobKey":
        SUBSCRIPTION_ID.check(subscription_id)
        RESOURCE_GROUP.check(resource_group)
        JOB_NAME.check(job_name)
        return cls(subscription_id, resource_group, job_name)

    @classmethod
    def from_resource_id(cls, resource_id: str) -> "JobKey":
        """The key of a job's `resource_id` (as `resource_id` writes it); BadRequest when it is not one."""
        parts = resource_id.split("/")
        shape = ["", "subscriptions", None, "resourceGroups", None, "providers", *RESOURCE_TYPE.split("/"), None]
        if len(parts) != len(shape) or any(want is not None and part != want for part, want in zip(parts, shape, strict=True)):
            raise BadRequest(f"{resource_id[:200]!r} is not a job's resource id.", code="InvalidResourceId")
        return cls.parse(parts[2], parts[4], parts[8])

    @property
    def partition_key(self) -> str:
        return case_key(self.subscription_id)

    @property
    def row_key(self) -> str:
        return f"{case_key(self.resource_group)}{ROW_KEY_SEPARATOR}{case_key(self.job_name)}"

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{RESOURCE_TYPE}/{self.job_name}"
        )
