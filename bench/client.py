"""What the benchmarks drive the dev host with: a lean HTTP client.

The client is `http.client` on one kept-alive connection: it adds about as
little as an HTTP client can, so the figures show the server side. (With
`requests` as the client, add roughly half a millisecond per request.)
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass

API_VERSION = "2021-01-01"
JOB_BODY = {
    "location": "westus",
    "properties": {
        "storageAccountId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a",
        "jobType": "Import",
    },
}
RETURN_ADDRESS = {
    "recipientName": "A",
    "streetAddress1": "1 Way",
    "city": "C",
    "postalCode": "1",
    "countryOrRegion": "US",
    "phone": "1",
    "email": "a@b.c",
}
DELIVERY_PACKAGE = {"carrierName": "FedEx", "trackingNumber": "1", "driveCount": 1, "shipDate": "2026-11-20"}
SHIPPABLE_JOB_BODY = {
    **JOB_BODY,
    "properties": {**JOB_BODY["properties"], "returnAddress": RETURN_ADDRESS, "deliveryPackage": DELIVERY_PACKAGE},
}


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


class JobsClient:
    """The jobs API of one subscription over one kept-alive connection (one per thread)."""

    def __init__(self, port: int, subscription: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.subscription = subscription

    def path(self, resource_group: str, job: str | None = None) -> str:
        base = f"/subscriptions/{self.subscription}/resourceGroups/{resource_group}/providers/Microsoft.ImportExport/jobs"
        return f"{base}/{job}?api-version={API_VERSION}" if job else f"{base}?api-version={API_VERSION}"

    def send(self, method: str, path: str, body: dict | None = None) -> Reply:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return Reply(response.status, response.read())

    def create(self, resource_group: str, job: str, body: dict = JOB_BODY) -> Reply:
        return self.send("PUT", self.path(resource_group, job), body)

    def get(self, resource_group: str, job: str) -> Reply:
        return self.send("GET", self.path(resource_group, job))

    def update(self, resource_group: str, job: str, properties: dict) -> Reply:
        return self.send("PATCH", self.path(resource_group, job), {"properties": properties})

    def delete(self, resource_group: str, job: str) -> Reply:
        return self.send("DELETE", self.path(resource_group, job))

    def move(self, resource_group: str, job: str, state: str) -> Reply:
        """The operator's (datacenter's) move."""
        path = (
            f"/operator/subscriptions/{self.subscription}/resourceGroups/{resource_group}/jobs/{job}/state"
            f"?api-version={API_VERSION}"
        )
        return self.send("POST", path, {"state": state})

    def list(self, resource_group: str, top: int = 100) -> Reply:
        return self.send("GET", self.path(resource_group) + f"&$top={top}")

    def close(self) -> None:
        self.connection.close()
