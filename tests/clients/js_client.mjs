// Drives the app with the JavaScript client @azure/arm-storageimportexport 2.1.0 (api-version 2021-01-01).
//
// Every operation the client has, called as an app calls it; prints one JSON object: by step, what the
// client returned or the error it raised. `tests/test_clients.py` runs it with the project's node_modules.
//
//     node tests/clients/js_client.mjs BASE_URL SUBSCRIPTION_ID

import { StorageImportExport } from "@azure/arm-storageimportexport";

const [baseUrl, subscriptionId] = process.argv.slice(2);
const resourceGroup = "client-rg";
const storageAccountId = "/subscriptions/x/resourceGroups/client-rg/providers/Microsoft.Storage/storageAccounts/acct";

// With CLIENT_TOKEN (and CLIENT_SCOPE) set, the client authenticates as an app does against Entra ID: its bearer
// token policy asks the credential for the scope given as `credentialScopes` and sends the token over HTTPS
// (trusted through NODE_EXTRA_CA_CERTS). Without, the app leaves authentication to the platform in front of it; the
// client still wants a credential, and its bearer-token policy refuses plain http, so the test removes that policy
// through the client's public pipeline.
const token = process.env.CLIENT_TOKEN;
const scope = process.env.CLIENT_SCOPE;
const credential = token
  ? {
      getToken: async (scopes) => {
        const asked = [scopes].flat();
        if (asked.length !== 1 || asked[0] !== scope) throw new Error(`the client asked for a token for ${asked}, not ${scope}`);
        return { token, expiresOnTimestamp: Date.now() + 3600_000 };
      },
    }
  : { getToken: async () => ({ token: "not-checked", expiresOnTimestamp: Date.now() + 3600_000 }) };
const client = token
  ? new StorageImportExport(credential, subscriptionId, { endpoint: baseUrl, $host: baseUrl, credentialScopes: [scope] })
  : new StorageImportExport(credential, subscriptionId, { endpoint: baseUrl, $host: baseUrl, allowInsecureConnection: true });
if (!token) client.pipeline.removePolicy({ name: "bearerTokenAuthenticationPolicy" });
const authorization = token ? { Authorization: `Bearer ${token}` } : {};

const steps = {};
async function step(name, call, summary = () => null) {
  try {
    const result = await call();
    steps[name] = { ok: true, result: summary(result) ?? null };
    return result;
  } catch (error) {
    steps[name] = { ok: false, status: error.statusCode ?? null, code: error.code ?? null, message: String(error.message).slice(0, 300) };
    return undefined;
  }
}

async function all(iterator) {
  const items = [];
  for await (const item of iterator) items.push(item);
  return items;
}

async function operatorMove(jobName, state) {
  const url = `${baseUrl}/operator/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/jobs/${jobName}/state?api-version=2021-01-01`;
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...authorization }, body: JSON.stringify({ state }) });
  if (!response.ok) throw Object.assign(new Error(await response.text()), { statusCode: response.status });
}

const importJob = {
  location: "westus",
  tags: { team: "data" },
  properties: {
    storageAccountId,
    jobType: "Import",
    diagnosticsPath: "waimportexport",
    logLevel: "Verbose",
    driveList: [{ driveId: "9CA995BA", bitLockerKey: "238810-662376-448998-450120-652806-203390-606320-483076" }],
  },
};
await step("create", () => client.jobs.create("import-job", resourceGroup, importJob),
  (job) => ({ state: job.properties.state, location: job.location, created: job.systemData?.createdAt != null }));
await step("get", () => client.jobs.get("import-job", resourceGroup),
  (job) => ({ identity: job.identity?.type ?? null, bitLockerKeyShown: job.properties.driveList[0].bitLockerKey ?? null }));
await step("update_tags", () => client.jobs.update("import-job", resourceGroup, { tags: { team: "ops" } }), (job) => job.tags);
const returnAddress = {
  recipientName: "Ada", streetAddress1: "1 Way", city: "Redmond", postalCode: "98052",
  countryOrRegion: "USA", phone: "4250000000", email: "ada@example.com",
};
await step("update_ship",
  () => client.jobs.update("import-job", resourceGroup, {
    state: "Shipping", returnAddress, deliveryPackage: { carrierName: "FedEx", trackingNumber: "123456789" },
  }),
  (job) => ({ state: job.properties.state, trackingNumber: job.properties.deliveryPackage.trackingNumber }));
await step("operator_receive", () => operatorMove("import-job", "Received"));
await step("update_cancel_received", () => client.jobs.update("import-job", resourceGroup, { cancelRequested: true }),
  (job) => ({ state: job.properties.state, cancelRequested: job.properties.cancelRequested }));
await step("bitlocker_keys_list", () => all(client.bitLockerKeys.list("import-job", resourceGroup)),
  (keys) => keys.map((key) => ({ driveId: key.driveId, bitLockerKey: key.bitLockerKey })));
await step("create_export",
  () => client.jobs.create("export-job", resourceGroup, {
    location: "westus", properties: { storageAccountId, jobType: "Export", export: { blobListBlobPath: "container/list.xml" } },
  }),
  (job) => job.properties.export.blobListBlobPath);
await step("list_by_resource_group_pages", () => all(client.jobs.listByResourceGroup(resourceGroup, { top: 1 })),
  (found) => found.map((job) => job.name).sort());
await step("list_by_subscription", () => all(client.jobs.listBySubscription()), (found) => found.map((job) => job.name).sort());
await step("list_filtered", () => all(client.jobs.listBySubscription({ filter: "type eq 'Export' and state eq 'Creating'" })),
  (found) => found.map((job) => job.name));
await step("delete", () => client.jobs.delete("export-job", resourceGroup));
await step("delete_absent", () => client.jobs.delete("export-job", resourceGroup));
await step("get_absent", () => client.jobs.get("export-job", resourceGroup));
await step("locations_list", () => all(client.locations.list()), (found) => found.map((location) => location.name));
await step("locations_get", () => client.locations.get("West US"),
  (location) => ({ name: location.name, carriers: location.supportedCarriers }));
await step("operations_list", () => all(client.operations.list()), (found) => found.map((operation) => operation.name));

console.log(JSON.stringify({ steps }));
