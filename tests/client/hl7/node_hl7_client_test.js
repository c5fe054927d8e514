// Hearth's MLLP listener driven by a real HL7 v2 sender: npm's node-hl7-client
// (pinned in package.json / package-lock.json). Run by run_node_hl7_client,
// which starts `hearth serve --mllp-port 0 --http-port 0` and passes both ports:
//
//   HEARTH_BEARER_TOKEN=... node node_hl7_client_test.js MLLP_PORT HTTP_BASE_URL
//
// Over one MLLP connection it sends an ADT^A01 built with the library's message
// builder and an ORU^R01 parsed from text by the library, and checks that each
// is answered with an ACK whose MSA-1 is AA and whose MSA-2 names the message's
// control id; then an ADT^A04 whose birth date is no date, answered AE (with an
// ERR at PID-7). Then, over HTTP with the bearer token, that the Patients of the
// accepted messages are served and the rejected one's is not. The data is made
// up. Exit status 0 when every step passed, 1 otherwise (each failure printed).

import http from 'node:http';
import { Client, Message } from 'node-hl7-client';
import { HL7_2_5_1 } from 'node-hl7-client/hl7';

const [mllpPortArg, baseUrl] = process.argv.slice(2);
const token = process.env.HEARTH_BEARER_TOKEN;
const mllpPort = Number(mllpPortArg);
if (!Number.isInteger(mllpPort) || mllpPort <= 0 || !baseUrl || !token) {
  console.error('usage: HEARTH_BEARER_TOKEN=... node node_hl7_client_test.js MLLP_PORT HTTP_BASE_URL');
  process.exit(2);
}

// PID-3.4 HD.2 with HD.3 ISO: the IG maps it to Identifier.system urn:oid:...
const mrnOid = '2.16.840.1.113883.3.4711';
const mrnSystem = `urn:oid:${mrnOid}`;
const labOid = '1.2.36.1.2001.1003.0.8003602346556';
const STEP_TIMEOUT_MS = 15000;

let failures = 0;
let passes = 0;
function check(ok, what, detail = '') {
  if (ok) {
    passes++;
    console.log(`ok: ${what}`);
  } else {
    failures++;
    console.error(`FAIL: ${what}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// --- the messages ------------------------------------------------------------------

/// An ADT message built with the library's builder (HL7 2.5.1 MSH rules: MSH-9
/// with its structure, MSH-12 2.5.1), for patient `mrn`, control id `control`.
function buildAdt(event, control, mrn, birth) {
  const message = new Message({
    specification: new HL7_2_5_1(),
    messageHeader: { msh_9_1: 'ADT', msh_9_2: event, msh_9_3: 'ADT_A01', msh_10: control, msh_11_1: 'P' },
  });
  message.set('MSH.3', 'ADTAPP');
  message.set('MSH.4', 'HOSP');
  message.set('MSH.5', 'HEARTH');
  message.set('MSH.6', 'HEARTH');
  message.set('MSH.7', '20241105103000+0100'); // the builder's own is local time without an offset
  const evn = message.addSegment('EVN');
  evn.set('1', event);
  evn.set('2', '20241105103000+0100');
  const pid = message.addSegment('PID');
  pid.set('1', '1');
  pid.set('3.1', mrn);
  pid.set('3.4.1', 'HOSP');
  pid.set('3.4.2', mrnOid);
  pid.set('3.4.3', 'ISO');
  pid.set('3.5', 'MR');
  pid.set('5.1', 'Testpatient');
  pid.set('5.2', 'Alex');
  pid.set('7', birth);
  pid.set('8', 'M');
  return message;
}

/// An ORU^R01 (the shape of tests/data/hl7v2/mapping/oru_r01_cbc.hl7, shortened),
/// given to the library as text and parsed by it.
function parseOru(control, mrn) {
  const segments = [
    `MSH|^~\\&|LABSYS|GOODLAB|HEARTH|HEARTH|20240305103000+0100||ORU^R01^ORU_R01|${control}|P|2.5.1`,
    `PID|1||${mrn}^^^GOODHOSP&${labOid}&ISO^MR||Labpatient^Sam||19610615|M`,
    'PV1|1|O',
    'ORC|RE|PL-778^ORDERAPP^1.2.3.4.5^ISO|FL-991^LABSYS^1.2.3.4.6^ISO',
    'OBR|1|PL-778^ORDERAPP^1.2.3.4.5^ISO|FL-991^LABSYS^1.2.3.4.6^ISO|58410-2^CBC panel - Blood by Automated count^LN|||202403050800+0100|||||||||||||||202403051015+0100||HM|F',
    'OBX|1|NM|6690-2^Leukocytes [#/volume] in Blood by Automated count^LN||11.8|10*3/uL^thousand per microliter^UCUM|4.0-10.5|H|||F',
    'OBX|2|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||13.60|g/dL^gram per deciliter^UCUM|13.5-17.5|N|||F|||202403050805+0100',
    'OBX|3|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN||212|10*3/uL^^UCUM|150-400|N|||F',
  ];
  return new Message({ text: segments.join('\r') });
}

// --- MLLP --------------------------------------------------------------------------

/// One connection of the library to Hearth's MLLP port; send(message) resolves
/// with the ACK (the library's parsed Message) that answers it.
function openConnection(client) {
  let waiting = null; // { resolve, reject } of the message in flight
  const connection = client.createConnection({ port: mllpPort, waitAck: true }, async (response) => {
    const ack = response.getMessage();
    if (waiting) {
      const w = waiting;
      waiting = null;
      w.resolve(ack);
    } else {
      check(false, 'an ACK arrived with no message in flight', ack.toString().replaceAll('\r', '\\r'));
    }
  });
  connection.on('data.error', (err) => {
    if (waiting) {
      const w = waiting;
      waiting = null;
      w.reject(new Error(`the library could not read the answer: ${err.message}`));
    }
  });
  const connected = new Promise((resolve) => connection.once('connect', resolve));
  return {
    connection,
    connected,
    send(message) {
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        connection.sendMessage(message).catch(reject);
      });
    },
  };
}

function field(message, path) {
  return message.get(path).toString();
}

/// Sends `message` and checks the ACK: MSA-1 `code`, MSA-2 the message's MSH-10.
async function sendAndCheck(conn, message, code, what) {
  const control = field(message, 'MSH.10');
  const ack = await withTimeout(conn.send(message), what);
  const raw = ack.toString().replaceAll('\r', '\\r');
  check(field(ack, 'MSH.9.1') === 'ACK', `${what}: the answer is an ACK`, raw);
  check(field(ack, 'MSA.1') === code, `${what}: MSA-1 is ${code}`, `got "${field(ack, 'MSA.1')}" in ${raw}`);
  check(field(ack, 'MSA.2') === control, `${what}: MSA-2 names control id ${control}`, `got "${field(ack, 'MSA.2')}"`);
  return ack;
}

// --- HTTP --------------------------------------------------------------------------

function getJson(path) {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, baseUrl), {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' },
      timeout: STEP_TIMEOUT_MS,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${body.slice(0, 500)}`));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new Error(`GET ${path}: not JSON: ${err.message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${STEP_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
}

async function patientsWith(system, mrn) {
  const bundle = await getJson(`/Patient?identifier=${encodeURIComponent(`${system}|${mrn}`)}`);
  return (bundle.entry ?? []).map((e) => e.resource);
}

// --- the steps ---------------------------------------------------------------------

async function main() {
  const client = new Client({ host: '127.0.0.1' });
  const conn = openConnection(client);
  try {
    await withTimeout(conn.connected, `connecting to 127.0.0.1:${mllpPort}`);
    check(true, `node-hl7-client connected to 127.0.0.1:${mllpPort}`);

    // (1) Messages that convert: AA, MSA-2 their control ids.
    const a01 = buildAdt('A01', 'NHC-A01-0001', 'MRN-NHC-1', '19800215');
    await sendAndCheck(conn, a01, 'AA', 'ADT^A01 (library builder)');
    const oru = parseOru('NHC-ORU-0001', 'MRN-NHC-2');
    check(field(oru, 'MSH.9.2') === 'R01', 'the library parsed the ORU^R01 text');
    await sendAndCheck(conn, oru, 'AA', 'ORU^R01 (library parser)');

    // (2) A content error: a birth date that is no date -> AE with ERR at PID-7.
    const bad = buildAdt('A04', 'NHC-A04-0001', 'MRN-NHC-3', '1980021X');
    const badAck = await sendAndCheck(conn, bad, 'AE', 'ADT^A04 with birth date 1980021X');
    check(badAck.toString().includes('\rERR|'), 'the AE carries an ERR segment', badAck.toString().replaceAll('\r', '\\r'));
    check(badAck.toString().includes('PID^1^7'), 'the ERR points at PID-7', badAck.toString().replaceAll('\r', '\\r'));
  } finally {
    await conn.connection.close();
    client.closeAll();
  }

  // (3) Over HTTP: the accepted messages' Patients are there, the rejected one's not.
  const adtPatients = await patientsWith(mrnSystem, 'MRN-NHC-1');
  if (check(adtPatients.length === 1, 'GET /Patient?identifier= finds the ADT^A01 patient', `${adtPatients.length} found`)) {
    check(adtPatients[0].birthDate === '1980-02-15', 'its birthDate is 1980-02-15', adtPatients[0].birthDate);
    check(adtPatients[0].gender === 'male', 'its gender is male', adtPatients[0].gender);
  }
  const oruPatients = await patientsWith(`urn:oid:${labOid}`, 'MRN-NHC-2');
  if (check(oruPatients.length === 1, 'GET /Patient?identifier= finds the ORU^R01 patient', `${oruPatients.length} found`)) {
    const observations = await getJson(`/Observation?subject=${encodeURIComponent(`Patient/${oruPatients[0].id}`)}`);
    const count = (observations.entry ?? []).length;
    check(count === 3, 'the ORU^R01 patient has its 3 Observations', `${count} found`);
  }
  const rejected = await patientsWith(mrnSystem, 'MRN-NHC-3');
  check(rejected.length === 0, 'the AE message made no Patient', `${rejected.length} found`);
}

try {
  await main();
} catch (err) {
  check(false, 'a step threw', err?.message ?? String(err));
}
console.log(`node-hl7-client: ${passes} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
