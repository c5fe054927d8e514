// What the SMART client tests share: a `hearth serve` of their own (a config
// file written by the test, a temporary data directory, port 0), tokens
// minted by `hearth token`, plain HTTP helpers, and the step runner that
// prints "ok"/"not ok" per step as fhir_kit_client_test.js does.
//
// Each test starts its server itself, because the configuration depends on
// what only the test knows before the start (a key pair it generates, the
// redirect URI of the app it serves). The server gets the environment minus
// every HEARTH_* variable but HEARTH_DEFINITIONS_DIR, so that a developer's
// HEARTH_PUBLIC_BASE_URL or HEARTH_HTTP_HOST cannot change what is tested.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/// The environment `hearth` runs with (see the top of this file).
function hearth_env() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('HEARTH_') || k === 'HEARTH_DEFINITIONS_DIR') env[k] = v;
  }
  return env;
}

/// A temporary directory for one test run, removed by `cleanup()`.
export function make_work_dir(prefix) {
  return mkdtempSync(join(tmpdir(), `${prefix}.`));
}

/// Starts `hearth serve --config WORK/hearth.json --http-port 0 --data
/// WORK/data` and waits (up to 30 s) for "http listening on HOST:PORT" on its
/// stdout. Returns { base, data_dir, log(), stop() }; stop() sends SIGTERM,
/// waits up to 30 s (then SIGKILL) and resolves to the exit status (0 for a
/// clean stop). The server's pid goes to WORK/hearth-serve.pid, for the
/// runner to end a server this process could not (killed itself).
export async function start_hearth(hearth, work, config) {
  const config_path = join(work, 'hearth.json');
  writeFileSync(config_path, JSON.stringify(config, null, 2), { mode: 0o600 });
  const data_dir = join(work, 'data');
  const log_path = join(work, 'server.log');
  const log_fd = openSync(log_path, 'w');
  const child = spawn(hearth, ['serve', '--config', config_path, '--http-port', '0', '--data', data_dir], {
    env: hearth_env(),
    stdio: ['ignore', 'pipe', log_fd],
  });
  closeSync(log_fd);
  writeFileSync(join(work, 'hearth-serve.pid'), `${child.pid}\n`);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? 128 + (constants.signals[signal] ?? 0)));
  });
  const log = () => {
    try {
      return readFileSync(log_path, 'utf8');
    } catch {
      return '';
    }
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return exited;
    stopped = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      console.error('# hearth serve did not stop within 30 s of SIGTERM: killed');
      child.kill('SIGKILL');
    }, 30_000);
    const status = await exited;
    clearTimeout(timer);
    return status;
  };

  const lines = createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hearth serve printed no "http listening on" within 30 s')), 30_000);
    lines.on('line', (line) => {
      const m = /^http listening on (\S+):([0-9]+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[2]));
      }
    });
    exited.then((status) => {
      clearTimeout(timer);
      reject(new Error(`hearth serve exited with status ${status} before listening`));
    });
  }).catch(async (e) => {
    await stop();
    throw new Error(`${e.message}; its log:\n${log()}`);
  });
  // Drain stdout so that the server never blocks on a full pipe.
  lines.on('line', () => {});
  return { base: `http://127.0.0.1:${port}`, data_dir, log, stop };
}

/// `hearth token --data DATA --base-url BASE --scope SCOPE --ttl 600 [ARGS]`:
/// the token it prints.
export function mint_token(hearth, data_dir, base, scope, args = []) {
  return new Promise((resolve, reject) => {
    execFile(hearth, ['token', '--data', data_dir, '--base-url', base, '--scope', scope, '--ttl', '600', ...args],
      { env: hearth_env(), timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`hearth token failed: ${stderr.trim() || err.message}`));
        else resolve(stdout.trim());
      });
  });
}

/// fetch with a 15 s limit; `redirect: 'manual'` unless told otherwise (the
/// tests look at every hop).
export function http(url, init = {}) {
  return fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(15_000), ...init });
}

/// A JSON body, or a failure naming the status and what came instead.
export async function json_of(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status}: not JSON: ${text.slice(0, 300)}`);
  }
}

/// application/x-www-form-urlencoded, as a POST body.
export function form_post(fields) {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  };
}

/// Runs the steps in order, each even when an earlier one failed (a step
/// whose input is missing fails saying so); prints "ok"/"not ok" per step
/// and "N passed, N failed". Resolves to the number failed.
export async function run_steps(steps) {
  let passed = 0;
  let failed = 0;
  for (const [name, run] of steps) {
    try {
      await run();
      passed += 1;
      console.log(`ok - ${name}`);
    } catch (e) {
      failed += 1;
      const detail = e?.stack && !(e?.name === 'AssertionError') ? e.stack : String(e?.message ?? e);
      console.log(`not ok - ${name}\n    ${detail.replace(/\n/g, '\n    ')}`);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

/// Stops the server (when started), prints its log when something failed or
/// it did not stop cleanly, removes the work directory and exits: 0 when
/// every step passed and the server stopped with status 0, 1 otherwise.
export async function finish(server, work, failed) {
  let status = 0;
  if (server) {
    status = await server.stop();
    if (status !== 0) console.log(`not ok - hearth serve exited with status ${status} after SIGTERM`);
    if (failed > 0 || status !== 0) console.error(`# the server's log:\n${server.log()}`);
  }
  rmSync(work, { recursive: true, force: true });
  process.exit(failed === 0 && status === 0 ? 0 : 1);
}

/// On SIGTERM or SIGINT (the runner's timeout): stop the server, remove the
/// work directory, exit 1.
export function stop_on_signal(get_server, work) {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, async () => {
      console.error(`# ${sig}: stopping`);
      const server = get_server();
      if (server) await server.stop();
      rmSync(work, { recursive: true, force: true });
      process.exit(1);
    });
  }
}
