// SMART Backend Services against Hearth's built-in authorisation server, with
// npm's jose (pinned in package.json) as the client's JOSE library: it makes
// the key pairs (ES384 and RS384), the JWK Set registered for the client,
// and the private_key_jwt client assertions (RFC 7523; SMART App Launch 2.2
// backend-services.html) the client_credentials grant is asked with.
//
//   node jose_backend_test.mjs HEARTH_BINARY
//
// Writes a config file with one confidential-asymmetric client (the public
// keys inline, scope system/Patient.rs), starts `hearth serve` on port 0 in a
// temporary data directory, and checks: discovery names the token endpoint
// and the algorithms; an ES384 and an RS384 assertion each get a Bearer token
// (system/Patient.rs, at most 5 minutes, no refresh token) that jose verifies
// against [base]/auth/jwks; the token reads and searches Patient (200) and
// cannot create one (403, no "c"); a replayed assertion, one for another
// audience, one signed by an unregistered key and one living longer than
// 5 minutes are refused. Every step runs even when an earlier one failed;
// prints "ok"/"not ok" per step; exits 1 when a step failed or the server
// did not stop cleanly. The Patient is invented.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import {
  finish, form_post, http, json_of, make_work_dir, mint_token, run_steps, start_hearth, stop_on_signal,
} from './hearth_process.mjs';

const hearth = process.argv[2];
if (!hearth) {
  console.error('usage: node jose_backend_test.mjs HEARTH_BINARY');
  process.exit(2);
}

const client_id = 'hearth-test-backend';
const jwt_bearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/// A key pair of `alg` and its public JWK (alg, use, RFC 7638 kid).
async function key_pair(alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(publicKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = alg;
  jwk.use = 'sig';
  return { alg, jwk, private_key: privateKey };
}

const work = make_work_dir('hearth-smart-backend');
let server = null;
stop_on_signal(() => server, work);

const es384 = await key_pair('ES384');
const rs384 = await key_pair('RS384');
const stranger = await key_pair('ES384');  // never registered

const config = {
  auth: {
    clients: [
      {
        client_id,
        type: 'confidential-asymmetric',
        scope: 'system/Patient.rs',
        jwks: { keys: [es384.jwk, rs384.jwk] },
      },
    ],
  },
};

/// A client assertion (SMART backend-services.html "Authenticating": iss =
/// sub = client_id, aud = the token endpoint, exp at most 5 minutes ahead, a
/// jti used once).
async function assertion(key, aud, { lifetime = 240, jti = randomUUID() } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti })
    .setProtectedHeader({ alg: key.alg, kid: key.jwk.kid, typ: 'JWT' })
    .setIssuer(client_id)
    .setSubject(client_id)
    .setAudience(aud)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .sign(key.private_key);
}

/// POST [token endpoint] grant_type=client_credentials with `client_assertion`.
function token_request(token_url, client_assertion, scope = 'system/Patient.rs') {
  return http(token_url, form_post({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: jwt_bearer,
    client_assertion,
  }));
}

/// An OAuth error answer: one of `statuses`, JSON with `error` one of `errors`.
async function expect_oauth_error(response, statuses, errors) {
  const body = await json_of(response);
  assert.ok(statuses.includes(response.status), `HTTP ${response.status} ${JSON.stringify(body)}, expected ${statuses}`);
  assert.ok(errors.includes(body.error), `error ${JSON.stringify(body)}, expected one of ${errors}`);
  assert.equal(body.access_token, undefined);
}

const state = {};
const family = `Backendson${randomUUID().slice(0, 8)}`;

const steps = [
  ['hearth serve starts with a confidential-asymmetric client (jose JWKS inline)', async () => {
    server = await start_hearth(hearth, work, config);
    state.base = server.base;
    console.log(`# hearth serve on ${server.base}`);
  }],

  ['a Patient to read, created with `hearth token --scope system/*.cruds`', async () => {
    assert.ok(state.base, 'no server');
    const admin = await mint_token(hearth, server.data_dir, state.base, 'system/*.cruds');
    const r = await http(`${state.base}/Patient`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family, given: ['Ottilie'] }], birthDate: '1971-09-30' }),
    });
    const created = await json_of(r);
    assert.equal(r.status, 201, JSON.stringify(created));
    state.patient = created.id;
  }],

  ['GET .well-known/smart-configuration: token endpoint, private_key_jwt, ES384 and RS384', async () => {
    assert.ok(state.base, 'no server');
    const r = await http(`${state.base}/.well-known/smart-configuration`, { headers: { accept: 'application/json' } });
    const d = await json_of(r);
    assert.equal(r.status, 200, JSON.stringify(d));
    assert.equal(d.token_endpoint, `${state.base}/auth/token`);
    assert.equal(d.jwks_uri, `${state.base}/auth/jwks`);
    assert.ok(d.grant_types_supported?.includes('client_credentials'), 'client_credentials is not listed');
    assert.ok(d.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'private_key_jwt is not listed');
    for (const alg of ['ES384', 'RS384']) {
      assert.ok(d.token_endpoint_auth_signing_alg_values_supported?.includes(alg), `${alg} is not listed`);
    }
    state.token_url = d.token_endpoint;
  }],

  ['client_credentials with an ES384 assertion: a Bearer token for system/Patient.rs', async () => {
    assert.ok(state.token_url, 'no token endpoint');
    state.used_assertion = await assertion(es384, state.token_url);
    const r = await token_request(state.token_url, state.used_assertion);
    const t = await json_of(r);
    assert.equal(r.status, 200, JSON.stringify(t));
    assert.match(r.headers.get('cache-control') ?? '', /no-store/, 'RFC 6749 5.1: Cache-Control: no-store');
    assert.match(t.access_token ?? '', /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.equal(t.token_type?.toLowerCase(), 'bearer');
    assert.equal(t.scope, 'system/Patient.rs');
    assert.ok(Number.isInteger(t.expires_in) && t.expires_in > 0 && t.expires_in <= 300,
      `expires_in ${t.expires_in}: Backend Services tokens last at most 5 minutes`);
    assert.equal(t.refresh_token, undefined, 'RFC 6749 4.4.3: no refresh token for client_credentials');
    assert.equal(t.id_token, undefined);
    state.token = t.access_token;
  }],

  ['the access token verifies with jose against [base]/auth/jwks (iss and aud the base URL)', async () => {
    assert.ok(state.token, 'no access token');
    const jwks = createRemoteJWKSet(new URL(`${state.base}/auth/jwks`));
    const { payload } = await jwtVerify(state.token, jwks, { issuer: state.base, audience: state.base });
    assert.ok(payload.exp - payload.iat <= 300, 'lifetime over 5 minutes');
    assert.equal(typeof payload.jti, 'string');
  }],

  ['the token reads Patient/id: 200', async () => {
    assert.ok(state.token && state.patient, 'no token or no Patient');
    const r = await http(`${state.base}/Patient/${state.patient}`, {
      headers: { authorization: `Bearer ${state.token}`, accept: 'application/fhir+json' },
    });
    const p = await json_of(r);
    assert.equal(r.status, 200, JSON.stringify(p));
    assert.equal(p.id, state.patient);
    assert.equal(p.name?.[0]?.family, family);
  }],

  ['the token searches Patient?family=: 200, a searchset holding it', async () => {
    assert.ok(state.token && state.patient, 'no token or no Patient');
    const r = await http(`${state.base}/Patient?family=${family}`, {
      headers: { authorization: `Bearer ${state.token}`, accept: 'application/fhir+json' },
    });
    const b = await json_of(r);
    assert.equal(r.status, 200, JSON.stringify(b));
    assert.equal(b.resourceType, 'Bundle');
    assert.equal(b.type, 'searchset');
    assert.deepEqual((b.entry ?? []).map((e) => e.resource?.id), [state.patient]);
  }],

  ['the token cannot create a Patient (no "c"): 403', async () => {
    assert.ok(state.token, 'no token');
    const r = await http(`${state.base}/Patient`, {
      method: 'POST',
      headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family }] }),
    });
    const o = await json_of(r);
    assert.equal(r.status, 403, JSON.stringify(o));
    assert.equal(o.resourceType, 'OperationOutcome');
  }],

  ['the same assertion again (a replay): refused, no token', async () => {
    assert.ok(state.used_assertion, 'no assertion was used');
    const r = await token_request(state.token_url, state.used_assertion);
    const body = await r.clone().json().catch(() => ({}));
    console.log(`# the replay answered HTTP ${r.status} ${body.error}`);
    await expect_oauth_error(r, [400, 401], ['invalid_grant', 'invalid_client']);
  }],

  ['client_credentials with an RS384 assertion: a token as well', async () => {
    assert.ok(state.token_url, 'no token endpoint');
    const r = await token_request(state.token_url, await assertion(rs384, state.token_url));
    const t = await json_of(r);
    assert.equal(r.status, 200, JSON.stringify(t));
    assert.equal(t.scope, 'system/Patient.rs');
    const read = await http(`${state.base}/Patient/${state.patient}`, { headers: { authorization: `Bearer ${t.access_token}` } });
    assert.equal(read.status, 200);
  }],

  ['asking for more than allowed (system/Patient.cruds): narrowed to system/Patient.rs', async () => {
    assert.ok(state.token_url, 'no token endpoint');
    const r = await token_request(state.token_url, await assertion(es384, state.token_url), 'system/Patient.cruds');
    const t = await json_of(r);
    assert.equal(r.status, 200, JSON.stringify(t));
    assert.equal(t.scope, 'system/Patient.rs');
    assert.equal(decodeJwt(t.access_token).scope, 'system/Patient.rs');
  }],

  ['an assertion for another audience: refused', async () => {
    assert.ok(state.token_url, 'no token endpoint');
    const r = await token_request(state.token_url, await assertion(es384, `${state.base}/auth/introspect`));
    await expect_oauth_error(r, [400, 401], ['invalid_client', 'invalid_grant']);
  }],

  ['an assertion signed by a key the client did not register: refused', async () => {
    assert.ok(state.token_url, 'no token endpoint');
    const r = await token_request(state.token_url, await assertion({ ...stranger, jwk: { ...stranger.jwk } }, state.token_url));
    await expect_oauth_error(r, [400, 401], ['invalid_client', 'invalid_grant']);
  }],

  ['an assertion with exp more than 5 minutes ahead: refused', async () => {
    assert.ok(state.token_url, 'no token endpoint');
    const r = await token_request(state.token_url, await assertion(es384, state.token_url, { lifetime: 900 }));
    await expect_oauth_error(r, [400, 401], ['invalid_client', 'invalid_grant']);
  }],
];

const failed = await run_steps(steps);
await finish(server, work, failed);
