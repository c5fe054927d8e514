// A SMART App Launch 2.2 standalone launch against Hearth's built-in
// authorisation server, made by npm's fhirclient (the SMART JS client,
// pinned in package.json) through its Node API, as a server-side app does:
//
//   node fhirclient_launch_test.mjs HEARTH_BINARY
//
// The app is a small node:http server of this process: /launch calls
// smart(req, res, storage).authorize(...) (it reads
// .well-known/smart-configuration and redirects with PKCE S256), /callback
// calls smart(req, res, storage).ready() (it exchanges the code with its
// code_verifier for a token). The "browser" is scripted: it follows the
// redirects, reads the login form and the patient picker from the HTML
// (hidden fields and CSRF token included), fills them in and submits them.
//
// Hearth is configured (a config file this script writes) with one public
// client whose redirect URI is the app's /callback, and one user allowed two
// patients, created beforehand through the REST API with a token from
// `hearth token --scope system/*.cruds`. Checked: the launch ends with the
// chosen patient in context, client.patient.read() returns it, the id_token
// names the user's fhirUser, the other patient cannot be read, refreshes
// (offline_access; with client_id, and without it as fhirclient does by
// default) give working tokens, and a second use of the code is refused and
// revokes what the code led to. Every step runs even when an earlier one
// failed; prints "ok"/"not ok" per step; exits 1 when a step failed or the
// server did not stop cleanly. The people are invented.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import smart from 'fhirclient';
import {
  finish, form_post, http, json_of, make_work_dir, mint_token, run_steps, start_hearth, stop_on_signal,
} from './hearth_process.mjs';

const hearth = process.argv[2];
if (!hearth) {
  console.error('usage: node fhirclient_launch_test.mjs HEARTH_BINARY');
  process.exit(2);
}

// The sample user of examples/config/hearth-auth.json (examples/config/
// README.md gives its password): hearth has no command that makes a hash.
const username = 'dr-example';
const password = 'change-me-at-once';
const password_hash = '$argon2id$v=19$m=19456,t=2,p=1$2lHsQcnoGO63VVr+vQm4ng$sBbMic5odtt6LykUON2XhcZhgvJkXY9NAF13WJF3ouU';

const client_id = 'hearth-test-app';
const scope = 'launch/patient openid fhirUser patient/*.rs offline_access';
const suffix = randomUUID().slice(0, 8);
const patient_id = `smart-launch-${suffix}`;  // the one picked
const other_id = `smart-other-${suffix}`;     // also the user's, not picked
const practitioner = `Practitioner/smart-test-${suffix}`;

// --- the app ----------------------------------------------------------------
// fhirclient's state lives in `storage`: one browser, one session.
const session = new Map();
const storage = {
  get: async (key) => session.get(key),
  set: async (key, value) => {
    session.set(key, value);
    return value;
  },
  unset: async (key) => session.delete(key),
};
let launch_options = null;  // set once the server's base URL is known
let on_ready;               // resolves with ready()'s client, or its error
const ready_client = new Promise((resolve) => {
  on_ready = resolve;
});
const app = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://app.invalid').pathname;
  try {
    if (path === '/launch') {
      await smart(req, res, storage).authorize(launch_options);  // answers with a 302
    } else if (path === '/callback') {
      const client = await smart(req, res, storage).ready();
      on_ready({ client });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('launched\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  } catch (e) {
    if (path === '/callback') on_ready({ error: e });
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`app error: ${e.message}\n`);
  }
});
await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
const app_base = `http://127.0.0.1:${app.address().port}`;
const redirect_uri = `${app_base}/callback`;

// --- the browser ----------------------------------------------------------------

/// Follows redirects from `url` (GET, or `init`) until an answer that is not
/// one: 303 and 302 after a POST become a GET (RFC 9110 15.4). Returns the
/// answer, its URL and its body text; `hops` lists the URLs redirected to.
async function browse(url, init = {}, hops = []) {
  let response = await http(url, init);
  let current = url;
  for (let i = 0; i < 10 && [301, 302, 303, 307, 308].includes(response.status); ++i) {
    const location = response.headers.get('location');
    assert.ok(location, `HTTP ${response.status} without a Location`);
    current = new URL(location, current).href;
    hops.push(current);
    const keep = [307, 308].includes(response.status);
    response = await http(current, keep ? init : {});
  }
  return { response, url: current, text: await response.text() };
}

/// The attributes of an HTML start tag (values entity-decoded).
function attributes(tag) {
  const out = {};
  const decode = (s) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]);
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    if (m.index === 0) continue;  // the tag name
    out[m[1].toLowerCase()] = decode(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/// The one form of a page: its absolute action, method, inputs and buttons.
function form_of(page) {
  const forms = [...page.text.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)].map((m) => m[0]);
  assert.equal(forms.length, 1, `expected one form on ${page.url}, found ${forms.length}:\n${page.text.slice(0, 2000)}`);
  const form = forms[0];
  const head = attributes(/^<form\b[^>]*>/i.exec(form)[0]);
  return {
    action: new URL(head.action ?? '', page.url).href,
    method: (head.method ?? 'get').toUpperCase(),
    inputs: [...form.matchAll(/<input\b[^>]*>/gi)].map((m) => attributes(m[0])),
    buttons: [...form.matchAll(/<button\b[^>]*>/gi)].map((m) => attributes(m[0])),
  };
}

/// What a browser sends when the user fills `values` in and clicks the
/// submit button whose value is `button`: hidden fields as they are, the
/// named fields filled, the clicked button's name=value (HTML 4.10.21.4).
function submission(form, values, button) {
  const fields = [];
  for (const input of form.inputs) {
    const type = (input.type ?? 'text').toLowerCase();
    if (!input.name) continue;
    if (type === 'hidden') fields.push([input.name, input.value ?? '']);
    else if (type === 'radio' || type === 'checkbox') {
      if (values[input.name] === input.value) fields.push([input.name, input.value]);
    } else if (input.name in values) fields.push([input.name, values[input.name]]);
  }
  const clicked = form.buttons.find((b) => b.value === button && (b.type ?? 'submit') === 'submit');
  assert.ok(clicked, `no submit button "${button}" in the form`);
  fields.push([clicked.name, clicked.value]);
  return fields;
}

// --- the steps ----------------------------------------------------------------

const work = make_work_dir('hearth-smart-launch');
let server = null;
stop_on_signal(() => server, work);

const config = {
  auth: {
    clients: [{ client_id, type: 'public', redirect_uris: [redirect_uri], scope }],
    users: [{ username, password_hash, fhir_user: practitioner, patients: [patient_id, other_id] }],
  },
};

const state = {};

const steps = [
  ['hearth serve starts with a public client (redirect URI on the app) and a user', async () => {
    server = await start_hearth(hearth, work, config);
    state.base = server.base;
    console.log(`# hearth serve on ${server.base}, the app on ${app_base}`);
    launch_options = { iss: server.base, clientId: client_id, scope, redirectUri: redirect_uri, pkceMode: 'required' };
  }],

  ['the user\'s two patients, created with `hearth token --scope system/*.cruds`', async () => {
    assert.ok(state.base, 'no server');
    const admin = await mint_token(hearth, server.data_dir, state.base, 'system/*.cruds');
    for (const [id, given] of [[patient_id, 'Henrike'], [other_id, 'Aurelio']]) {
      const r = await http(`${state.base}/Patient/${id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', id, name: [{ family: `Launchley${suffix}`, given: [given] }] }),
      });
      const body = await json_of(r);
      assert.equal(r.status, 201, `PUT Patient/${id}: ${JSON.stringify(body)}`);
    }
    state.patients = true;
  }],

  ['/launch: fhirclient redirects to the authorize endpoint (PKCE S256, aud) and hearth shows the login form', async () => {
    assert.ok(launch_options, 'no server');
    const hops = [];
    const page = await browse(`${app_base}/launch`, {}, hops);
    const authorize = hops.map((h) => new URL(h)).find((u) => u.pathname.endsWith('/auth/authorize'));
    assert.ok(authorize, `fhirclient did not redirect to the authorize endpoint: ${JSON.stringify(hops)}; ${page.text.slice(0, 300)}`);
    assert.equal(authorize.origin + authorize.pathname, `${state.base}/auth/authorize`);
    const q = authorize.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), client_id);
    assert.equal(q.get('redirect_uri'), redirect_uri);
    assert.equal(q.get('aud'), state.base);
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(page.response.status, 200, page.text.slice(0, 500));
    assert.match(page.response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.response.headers.get('cache-control') ?? '', /no-store/);
    state.login = form_of(page);
    const names = state.login.inputs.map((i) => i.name);
    for (const n of ['username', 'password']) assert.ok(names.includes(n), `the login form has no ${n} field`);
  }],

  ['a wrong password: the login form again, with a message and a fresh CSRF token', async () => {
    assert.ok(state.login, 'no login form');
    const old_csrf = state.login.inputs.find((i) => i.name === 'csrf')?.value;
    const page = await browse(state.login.action,
      form_post(submission(state.login, { username, password: 'not-the-password' }, 'login')));
    assert.equal(page.response.status, 200, page.text.slice(0, 500));
    assert.match(page.text, /Sign-in failed/);
    state.login = form_of(page);
    const csrf = state.login.inputs.find((i) => i.name === 'csrf')?.value;
    if (old_csrf !== undefined) assert.notEqual(csrf, old_csrf, 'the CSRF token was not renewed');
  }],

  ['signing in: the patient picker lists the user\'s two patients', async () => {
    assert.ok(state.login, 'no login form');
    assert.equal(state.login.method, 'POST');
    const page = await browse(state.login.action, form_post(submission(state.login, { username, password }, 'login')));
    assert.equal(page.response.status, 200, page.text.slice(0, 500));
    state.picker = form_of(page);
    const offered = state.picker.inputs.filter((i) => i.name === 'patient' && i.type === 'radio').map((i) => i.value);
    assert.deepEqual(offered.sort(), [patient_id, other_id].sort());
  }],

  ['picking a patient: back to the app\'s /callback with code and state; fhirclient exchanges the code', async () => {
    assert.ok(state.picker, 'no patient picker');
    const hops = [];
    const page = await browse(state.picker.action,
      form_post(submission(state.picker, { patient: patient_id }, 'patient')), hops);
    const callback = hops.map((h) => new URL(h)).find((u) => u.href.startsWith(redirect_uri));
    assert.ok(callback, `no redirect to ${redirect_uri}: ${JSON.stringify(hops)}; ${page.text.slice(0, 300)}`);
    assert.equal(callback.searchParams.get('error'), null, callback.href);
    assert.ok(callback.searchParams.get('code'), 'no code');
    assert.ok(callback.searchParams.get('state'), 'no state');
    state.callback = callback.href;
    const outcome = await Promise.race([ready_client,
      new Promise((resolve) => setTimeout(() => resolve({ error: new Error('ready() did not finish in 15 s') }), 15_000))]);
    if (outcome.error) throw outcome.error;
    assert.equal(page.response.status, 200, page.text);
    state.client = outcome.client;
  }],

  ['the token response: the picked patient in context, the scopes, a refresh token, an id_token', async () => {
    assert.ok(state.client, 'fhirclient has no client');
    const client = state.client;
    assert.equal(client.getPatientId(), patient_id);
    const t = client.state.tokenResponse;
    assert.equal(t.token_type?.toLowerCase(), 'bearer');
    assert.ok(t.expires_in > 0 && t.expires_in <= 3600, `expires_in ${t.expires_in}`);
    for (const s of ['launch/patient', 'openid', 'fhirUser', 'patient/*.rs', 'offline_access']) {
      assert.ok(t.scope?.split(' ').includes(s), `"${s}" not granted: ${t.scope}`);
    }
    assert.ok(t.refresh_token, 'offline_access granted but no refresh_token');
    assert.ok(t.id_token, 'openid fhirUser granted but no id_token');
    // fhirclient reads fhirUser from the id_token.
    assert.equal(client.getFhirUser(), practitioner);
    assert.equal(client.getUserType(), 'Practitioner');
  }],

  ['client.patient.read(): the picked patient', async () => {
    assert.ok(state.client, 'fhirclient has no client');
    const patient = await state.client.patient.read();
    assert.equal(patient.resourceType, 'Patient');
    assert.equal(patient.id, patient_id);
    assert.deepEqual(patient.name?.[0]?.given, ['Henrike']);
  }],

  ['the other patient is out of the token\'s context: refused', async () => {
    assert.ok(state.client, 'fhirclient has no client');
    try {
      await state.client.request(`Patient/${other_id}`);
    } catch (e) {
      assert.ok([403, 404].includes(e.status ?? e.statusCode), `answered ${e.status ?? e.statusCode}: ${e.message}`);
      return;
    }
    assert.fail(`Patient/${other_id} was read with a token for Patient/${patient_id}`);
  }],

  ['client.refresh() with client_id (fhirclient\'s refreshTokenWithClientId): a new, rotated token', async () => {
    assert.ok(state.client, 'fhirclient has no client');
    const before = state.client.state.tokenResponse;
    state.client.environment.options.refreshTokenWithClientId = true;
    await state.client.refresh();
    const after = state.client.state.tokenResponse;
    assert.notEqual(after.access_token, before.access_token);
    assert.ok(after.refresh_token && after.refresh_token !== before.refresh_token, 'the refresh token was not rotated');
    assert.equal((await state.client.patient.read()).id, patient_id);
    state.refreshed = true;
  }],

  ['client.refresh() as fhirclient does by default, without client_id (SMART 2.2: a public app does not authenticate)', async () => {
    assert.ok(state.refreshed, 'the first refresh failed');
    const before = state.client.state.tokenResponse;
    state.client.environment.options.refreshTokenWithClientId = false;
    await state.client.refresh();
    const after = state.client.state.tokenResponse;
    assert.notEqual(after.access_token, before.access_token);
    assert.equal((await state.client.patient.read()).id, patient_id);
  }],

  ['the code a second time: refused (invalid_grant)', async () => {
    assert.ok(state.callback && state.client, 'no code');
    const code = new URL(state.callback).searchParams.get('code');
    const r = await http(state.client.state.tokenUri, form_post({
      grant_type: 'authorization_code', code, redirect_uri, client_id,
      code_verifier: state.client.state.codeVerifier ?? 'x'.repeat(43),
    }));
    const body = await json_of(r);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(body.error, 'invalid_grant');
    state.code_replayed = true;
  }],

  ['after the replay, what the code led to is revoked (RFC 6749 4.1.2): the refreshed token gets 401', async () => {
    assert.ok(state.code_replayed, 'the code was not replayed');
    const r = await http(`${state.base}/Patient/${patient_id}`, {
      headers: { authorization: `Bearer ${state.client.state.tokenResponse.access_token}` },
    });
    assert.equal(r.status, 401, await r.text());
  }],
];

const failed = await run_steps(steps);
app.close();
app.closeAllConnections?.();
await finish(server, work, failed);
