// Hearth driven by a real FHIR client: npm's fhir-kit-client (pinned in
// package.json) runs create, read, search, update, history, transaction and
// delete against a running server, and each answer is checked as the client
// reports it (issue: "A Node script using npm's fhir-kit-client runs ...").
//
//   HEARTH_BEARER_TOKEN=TOKEN node fhir_kit_client_test.js BASE_URL
//                                              (e.g. http://127.0.0.1:8080)
//
// Starts nothing itself: run_fhir_kit_client starts `hearth serve`, mints a
// token for it with `hearth token` and passes its base URL, and the token in
// the environment (not on the command line, which other users can see). The
// client sends it as a bearer token (RFC 6750 2.1); without one (a server
// run with --insecure-no-auth) it sends none, and the step that checks the
// 401 is skipped. Every step runs even when an earlier one failed (a step whose
// input is missing fails with that reason), so one run shows all that is
// wrong. Prints "ok"/"not ok" per step and a closing "N passed, N failed";
// exits 1 when a step failed. The resources are invented; no real person.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
// 1.9.2: a CommonJS module (node >= 16, as Debian 12 ships 18), imported as its default export.
import Client from 'fhir-kit-client';

const base = process.argv[2];
if (!base || !/^https?:\/\/[^/]+/.test(base)) {
  console.error('usage: node fhir_kit_client_test.js BASE_URL');
  process.exit(2);
}
const base_url = base.replace(/\/+$/, '');
const token = process.env.HEARTH_BEARER_TOKEN || undefined;
const client = new Client({ baseUrl: base_url, bearerToken: token });

// A family name no other run shares, so that the search finds this run's
// Patient only, even against a server that is not empty.
const family = `Quillmore${randomUUID().slice(0, 8)}`;

/// The HTTP response fhir-kit-client attached to a result (Client.httpFor).
function response_of(result) {
  const { response } = Client.httpFor(result);
  assert.ok(response, 'fhir-kit-client attached no HTTP response');
  return response;
}

/// The HTTP status of a request fhir-kit-client rejected (its error carries
/// response.status), or a failure when it did not reject.
async function rejected_status(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e.response, `rejected without an HTTP response: ${e.message}`);
    return e.response.status;
  }
  assert.fail('the request succeeded');
}

/// The id in a `[base/]Type/id/_history/vid` location, or a failure.
function id_in_location(location, type) {
  const m = new RegExp(`(?:^|/)${type}/([A-Za-z0-9.-]{1,64})/_history/([0-9]+)$`).exec(location ?? '');
  assert.ok(m, `location ${location} is not [base/]${type}/id/_history/vid`);
  return { id: m[1], version: m[2] };
}

// What the steps hand on to later ones.
const state = {};

const steps = [
  ['without the token: 401 and a Bearer challenge (RFC 6750 3)', async () => {
    if (!token) {
      console.log('# no HEARTH_BEARER_TOKEN: the server runs without authorisation');
      return;
    }
    const anonymous = new Client({ baseUrl: base_url });
    assert.equal(await rejected_status(anonymous.search({ resourceType: 'Patient', searchParams: { family } })), 401);
    // fhir-kit-client's error keeps no response headers: the challenge is
    // checked with node's own fetch.
    const plain = await fetch(`${base_url}/Patient?family=${family}`);
    assert.equal(plain.status, 401);
    assert.equal(plain.headers.get('www-authenticate'), 'Bearer realm="hearth"');
    assert.equal((await plain.json()).issue?.[0]?.code, 'login');
  }],

  ['create Patient: 201, id, meta.versionId 1, Location', async () => {
    const created = await client.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        active: true,
        name: [{ use: 'official', family, given: ['Maren'] }],
        gender: 'female',
        birthDate: '1984-03-12',
      },
    });
    const response = response_of(created);
    assert.equal(response.status, 201);
    assert.equal(created.resourceType, 'Patient');
    assert.match(created.id ?? '', /^[A-Za-z0-9.-]{1,64}$/, 'the server assigned no valid id');
    assert.equal(created.meta?.versionId, '1');
    // R4 http.html#create: Location is [base]/[type]/[id]/_history/[vid].
    assert.equal(response.headers.get('location'), `${base_url}/Patient/${created.id}/_history/1`);
    state.id = created.id;
  }],

  ['read Patient: the created resource', async () => {
    assert.ok(state.id, 'no Patient was created');
    const read = await client.read({ resourceType: 'Patient', id: state.id });
    assert.equal(response_of(read).status, 200);
    assert.equal(read.id, state.id);
    assert.equal(read.meta?.versionId, '1');
    assert.equal(read.name?.[0]?.family, family);
    assert.deepEqual(read.name?.[0]?.given, ['Maren']);
    assert.equal(read.birthDate, '1984-03-12');
    state.read = read;
  }],

  ['search Patient by family: a searchset Bundle holding it', async () => {
    assert.ok(state.id, 'no Patient was created');
    const bundle = await client.search({ resourceType: 'Patient', searchParams: { family } });
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'searchset');
    const ids = (bundle.entry ?? []).map((e) => e.resource?.id);
    assert.deepEqual(ids, [state.id], 'the search should find exactly the created Patient');
    if (bundle.total !== undefined) assert.equal(bundle.total, 1);
  }],

  ['update Patient: version 2', async () => {
    assert.ok(state.read, 'the Patient was not read');
    const body = { ...state.read, gender: 'other', telecom: [{ system: 'phone', value: '555-0142', use: 'home' }] };
    const updated = await client.update({ resourceType: 'Patient', id: state.id, body });
    assert.equal(response_of(updated).status, 200);
    assert.equal(updated.id, state.id);
    assert.equal(updated.meta?.versionId, '2');
    assert.equal(updated.gender, 'other');
    assert.equal((await client.read({ resourceType: 'Patient', id: state.id })).meta?.versionId, '2');
  }],

  ['history Patient: 2 entries, newest first', async () => {
    assert.ok(state.id, 'no Patient was created');
    const bundle = await client.history({ resourceType: 'Patient', id: state.id });
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'history');
    assert.equal(bundle.entry?.length, 2);
    // R4 http.html#history: "sorted with oldest versions last".
    assert.deepEqual(bundle.entry.map((e) => e.resource?.meta?.versionId), ['2', '1']);
    assert.deepEqual(bundle.entry.map((e) => e.resource?.gender), ['other', 'female']);
    if (bundle.total !== undefined) assert.equal(bundle.total, 2);
  }],

  ['transaction: Patient and Observation by urn:uuid, 201s, reference rewritten', async () => {
    const patient_urn = `urn:uuid:${randomUUID()}`;
    const observation_urn = `urn:uuid:${randomUUID()}`;
    const result = await client.transaction({
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: patient_urn,
            resource: { resourceType: 'Patient', name: [{ family: `${family}tx`, given: ['Ilse'] }], gender: 'female' },
            request: { method: 'POST', url: 'Patient' },
          },
          {
            fullUrl: observation_urn,
            resource: {
              resourceType: 'Observation',
              status: 'final',
              category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
              code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
              subject: { reference: patient_urn },
              effectiveDateTime: '2024-05-02T09:30:00Z',
              valueQuantity: { value: 64, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
            },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      },
    });
    assert.equal(response_of(result).status, 200);
    assert.equal(result.resourceType, 'Bundle');
    assert.equal(result.type, 'transaction-response');
    assert.equal(result.entry?.length, 2);
    // R4 http.html#transaction-response: one entry per request, in order,
    // each with its status and the location of what it created.
    for (const e of result.entry) assert.match(e.response?.status ?? '', /^201\b/);
    const patient = id_in_location(result.entry[0].response.location, 'Patient');
    const observation = id_in_location(result.entry[1].response.location, 'Observation');
    // R4 bundle.html#references: the urn:uuid reference becomes the new id.
    const stored = await client.read({ resourceType: 'Observation', id: observation.id });
    assert.equal(stored.subject?.reference, `Patient/${patient.id}`);
    const subject = await client.read({ resourceType: 'Patient', id: patient.id });
    assert.equal(subject.name?.[0]?.given?.[0], 'Ilse');
  }],

  ['delete Patient, then read: 410 Gone', async () => {
    assert.ok(state.id, 'no Patient was created');
    const deleted = await client.delete({ resourceType: 'Patient', id: state.id });
    assert.ok([200, 204].includes(response_of(deleted).status), `delete answered ${response_of(deleted).status}`);
    // R4 http.html#delete: a read of a deleted resource answers 410.
    assert.equal(await rejected_status(client.read({ resourceType: 'Patient', id: state.id })), 410);
  }],
];

let passed = 0;
let failed = 0;
for (const [name, run] of steps) {
  try {
    await run();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    // An HTTP failure: the status and the OperationOutcome's diagnostics, if any.
    const detail = e.response
      ? `HTTP ${e.response.status} ${JSON.stringify(e.response.data?.issue?.map((i) => i.diagnostics) ?? e.response.data)}`
      : e.message;
    console.log(`not ok - ${name}\n    ${detail.replace(/\n/g, '\n    ')}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
// fhir-kit-client keeps connections alive; exit without waiting for them.
process.exit(failed === 0 ? 0 : 1);
