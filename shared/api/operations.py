"""The operations the Microsoft.ImportExport provider offers (`GET /providers/Microsoft.ImportExport/operations`).

The list is the provider's own, as the API's specification shows it in every version: its permissions (read
locations; write, read, delete jobs; list a job's BitLocker keys; register the provider), each with the words a
portal shows for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROVIDER_DISPLAY_NAME = "Microsoft Import/Export"


@dataclass(frozen=True)
class Operation:
    name: str
    resource: str
    operation: str
    description: str

    def to_arm(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display": {
                "provider": PROVIDER_DISPLAY_NAME,
                "resource": self.resource,
                "operation": self.operation,
                "description": self.description,
            },
        }


OPERATIONS = (
    Operation(
        "Microsoft.ImportExport/locations/read",
        "Locations",
        "Get or List Locations",
        "Gets the properties for the specified location or returns the list of locations.",
    ),
    Operation(
        "Microsoft.ImportExport/jobs/write",
        "Jobs",
        "Create or Update Job",
        "Creates a job with the specified parameters or update the properties or tags for the specified job.",
    ),
    Operation(
        "Microsoft.ImportExport/jobs/read",
        "Jobs",
        "Get or List Jobs",
        "Gets the properties for the specified job or returns the list of jobs.",
    ),
    Operation(
        "Microsoft.ImportExport/jobs/listBitLockerKeys/action",
        "Jobs",
        "List BitLocker Keys",
        "Gets the BitLocker keys for the specified job.",
    ),
    Operation("Microsoft.ImportExport/jobs/delete", "Jobs", "Delete Job", "Deletes an existing job."),
    Operation(
        "Microsoft.ImportExport/register/action",
        "Import/Export Resource Provider",
        "Registers the Import/Export Resource Provider",
        "Registers the subscription for the import/export resource provider and enables the creation of import/export jobs.",
    ),
)


def operations_body() -> dict[str, Any]:
    return {"value": [operation.to_arm() for operation in OPERATIONS]}
