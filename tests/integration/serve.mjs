// `ratchet serve` as an operator meets it: the registry folders are watched and reloaded,
// SIGTERM drains running jobs before exiting, a non-loopback address without auth is refused
// unless --allow-unauthenticated, auth turns on by itself off loopback, a taken port is a
// clear error, `make run` (scripts/run-default) serves the sample tasks, and `ratchet apikey`
// manages keys the server accepts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { bin, cli, root, sanitizerProblems, startServer } from './lib/server.mjs';

let failed = 0;
async function test(label, fn) {
  try {
    await fn();
    console.log(`ok - serve: ${label}`);
  } catch (e) {
    failed++;
    for (const line of String(e.stack || e).split('\n').slice(0, 20)) console.log(`# ${line}`);
    console.log(`not ok - serve: ${label}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
async function getJSON(url, init) {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.json().catch(() => null), headers: r.headers };
}
const post = (url, body) => getJSON(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

// Runs serve with args until it prints its banner or exits; returns {proc, out, err, exit}.
function runServe(args, env = {}, cwd = root) {
  const proc = spawn(bin, ['serve', ...args], { cwd, env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RATCHET_'))), ...env } });
  const r = { proc, out: '', err: '' };
  proc.stdout.on('data', (d) => { r.out += d; });
  proc.stderr.on('data', (d) => { r.err += d; });
  r.exit = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return r;
}

// ---- registry reload and graceful drain, on one server ----
const srv = await startServer({ args: ['--set', 'server.rate_limit.enabled=false', '--set', 'job_queue.shutdown_grace_ms=20000'] });
const api = `${srv.base}/api/v1`;

await test('the banner says where everything is', async () => {
  const out = srv.stdout();
  for (const w of ['listening', '/api/v1', '/api/v1/openapi.json', '/docs', '/health', 'store', 'tasks      7 loaded', 'workers    2', 'auth       off (loopback only)']) assert.ok(out.includes(w), `banner lacks ${w}:\n${out}`);
});

await test('a changed task folder is reloaded (new version, new code)', async () => {
  const dir = path.join(srv.tasks, 'echo');
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'));
  meta.version = '1.1.0';
  fs.writeFileSync(path.join(dir, 'main.js'), '(input) => ({ echoed: input, reloaded: true })\n');
  fs.writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify(meta));
  const t = await until('version 1.1.0', async () => {
    const r = await getJSON(`${api}/tasks/echo`);
    return r.body.version === '1.1.0' && r.body;
  });
  assert.match(t.sourceCode, /reloaded: true/);
  await until('the workers to be ready', async () => (await getJSON(`${srv.base}/ready`)).status === 200, 20000);
  const run = await post(`${api}/tasks/echo/execute`, { input: { a: 1 } });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  assert.deepEqual(run.body.output, { echoed: { a: 1 }, reloaded: true });
  const versions = await getJSON(`${api}/tasks/echo/versions`);
  assert.deepEqual(versions.body.map((v) => v.version).sort(), ['1.0.0', '1.1.0']);
});

await test('a new task folder appears without a restart', async () => {
  const dir = path.join(srv.tasks, 'late-comer');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'main.js'), 'function main() { return { late: true }; }\n');
  fs.writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify({ name: 'late-comer', version: '0.1.0' }));
  await until('late-comer', async () => (await getJSON(`${api}/tasks/late-comer`)).status === 200);
  const run = await post(`${api}/tasks/late-comer/execute`, {});
  assert.deepEqual(run.body.output, { late: true });
});

await test('a broken edit is logged and leaves the stored task alone', async () => {
  const dir = path.join(srv.tasks, 'late-comer');
  fs.writeFileSync(path.join(dir, 'metadata.json'), '{"name": "late-comer", "version": ');
  await until('the error in the log', async () => /registry: .*late-comer/.test(srv.log()));
  const t = await getJSON(`${api}/tasks/late-comer`);
  assert.equal(t.body.version, '0.1.0');
});

// The newest direct run of spin, once it is RUNNING (and has run a little).
async function runningSpin(after) {
  const spin = (await getJSON(`${api}/tasks/spin`)).body.id;
  const e = await until('the run to start', async () => {
    const r = await getJSON(`${api}/executions?taskId=${spin}&_sort=id&_order=desc&_end=1`);
    const e = r.body && r.body[0];
    return e && e.id > after && e.status === 'RUNNING' && e;
  });
  await sleep(300);
  return e;
}
async function lastSpinId() {
  const spin = (await getJSON(`${api}/tasks/spin`)).body.id;
  const r = await getJSON(`${api}/executions?taskId=${spin}&_sort=id&_order=desc&_end=1`);
  return r.body && r.body[0] ? r.body[0].id : 0;
}

await test('a client that hangs up on a synchronous execute cancels its run', async () => {
  const before = await lastSpinId();
  const abort = new AbortController();
  const pending = fetch(`${api}/tasks/spin/execute`, { method: 'POST', signal: abort.signal, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ input: {}, timeoutMs: 60000 }) }).catch((e) => e);
  const ex = await runningSpin(before);
  const t0 = Date.now();
  abort.abort();
  assert.equal((await pending).name, 'AbortError');
  const done = await until('the run to be cancelled', async () => {
    const r = await getJSON(`${api}/executions/${ex.id}`);
    return r.body.status !== 'RUNNING' && r.body;
  }, 10000);
  assert.equal(done.status, 'CANCELLED', JSON.stringify(done));
  assert.ok(done.startedAt && done.completedAt && done.durationMs >= 200, JSON.stringify(done));
  assert.ok(Date.now() - t0 < 5000, 'it stopped long before its 60 s timeout');
  // the worker is free again: a run right after gets an answer
  const run = await post(`${api}/tasks/echo/execute`, { input: { after: 'hang-up' } });
  assert.equal(run.status, 200, JSON.stringify(run.body));
});

await test('POST /executions/{id}/cancel stops a direct run; its caller gets 409 CANCELLED', async () => {
  const before = await lastSpinId();
  const pending = post(`${api}/tasks/spin/execute`, { input: {}, timeoutMs: 60000 });
  const ex = await runningSpin(before);
  const c = await post(`${api}/executions/${ex.id}/cancel`, {});
  assert.equal(c.status, 200, JSON.stringify(c.body));
  const r = await pending;
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(r.body.status, 'CANCELLED');
  assert.equal(r.body.executionId, ex.id);
  const again = await post(`${api}/executions/${ex.id}/cancel`, {});
  assert.equal(again.status, 409, 'a finished run cannot be cancelled');
  assert.match(again.body.message, /CANCELLED: only PENDING or RUNNING/);
});

await test('task tests run in their own processes: two at once, a third is a 503, a hang-up frees its slot, a hung test ends at its timeout', async () => {
  const slow = await post(`${api}/tasks`, { name: 'slow-tests', sourceCode: 'async (i) => { await new Promise((r) => setTimeout(r, i.ms)); return { ok: true }; }', metadata: { tests: [{ name: 'waits', input: { ms: 2500 }, expected_output: { ok: true } }] } });
  assert.equal(slow.status, 201, JSON.stringify(slow.body));
  const sessions = Promise.all([0, 1, 2].map(async (i) => {
    await sleep(i * 200);
    return post(`${api}/tasks/slow-tests/test`, {});
  }));
  // the sessions hold no HTTP thread: the server answers meanwhile
  await sleep(800);
  const t0 = Date.now();
  assert.equal((await getJSON(`${api}/tasks/echo`)).status, 200);
  assert.ok(Date.now() - t0 < 1000, 'the API answered while the tests ran');
  const runs = await sessions;
  const statuses = runs.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 200, 503], JSON.stringify(runs.map((r) => r.body)));
  for (const r of runs.filter((r) => r.status === 200)) assert.deepEqual([r.body.totals.total, r.body.totals.passed], [1, 1]);
  assert.match(runs.find((r) => r.status === 503).body.message, /already runs 2 test sessions/);

  // a client that hangs up frees its session's slot at once: two more then run side by side
  const abort = new AbortController();
  const left = fetch(`${api}/tasks/slow-tests/test`, { method: 'POST', signal: abort.signal }).catch((e) => e);
  await sleep(500);
  abort.abort();
  assert.equal((await left).name, 'AbortError');
  await sleep(300);
  const two = await Promise.all([post(`${api}/tasks/slow-tests/test`, {}), post(`${api}/tasks/slow-tests/test`, {})]);
  assert.deepEqual(two.map((r) => r.status), [200, 200], JSON.stringify(two.map((r) => r.body)));

  const hung = await post(`${api}/tasks`, { name: 'hung-tests', sourceCode: '(i) => { for (;;) {} }', metadata: { timeout: 300, tests: [{ name: 'loops', input: {}, expected_output: {} }] } });
  assert.equal(hung.status, 201, JSON.stringify(hung.body));
  const r = await post(`${api}/tasks/hung-tests/test`, {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.tests[0].status, 'failed');
  assert.match(JSON.stringify(r.body.tests[0]), /TimeoutError|timed out|time limit/i);
  assert.equal((await getJSON(`${srv.base}/health`)).status, 200);
});

let drainJob;
await test('SIGTERM drains: a running job finishes and the server exits 0', async () => {
  const q = await post(`${api}/jobs`, { taskId: 'async-delay', input: { delayMs: 1500, words: ['drain'] } });
  assert.equal(q.status, 201);
  drainJob = q.body.id;
  await until('the job to run', async () => (await getJSON(`${api}/jobs/${drainJob}`)).body.status === 'PROCESSING');
  const t0 = Date.now();
  const exit = await srv.stop('SIGTERM', 30000);
  assert.equal(exit.code, 0, srv.log().split('\n').slice(-20).join('\n'));
  assert.ok(Date.now() - t0 >= 500, 'it waited for the run');
  assert.match(srv.log(), /draining/);
  assert.ok(!sanitizerProblems(srv.log()));
});

await test('after the drain the job is COMPLETED in the store', async () => {
  const again = await startServer({ database: srv.db, args: ['--set', 'server.rate_limit.enabled=false'] });
  try {
    const j = await getJSON(`${again.base}/api/v1/jobs/${drainJob}`);
    assert.equal(j.body.status, 'COMPLETED', JSON.stringify(j.body));
    assert.deepEqual(j.body.output, { words: ['DRAIN'], waitedAtLeast: true });
  } finally {
    await again.stop();
    again.cleanup();
  }
});
if (!failed) srv.cleanup();

// ---- binding and auth ----
await test('auth off on a non-loopback address is refused (exit 2, naming the keys)', async () => {
  const r = runServe(['--port', '0', '--bind', '0.0.0.0', '--set', 'server.auth.enabled=false', '--database', 'sqlite::memory:', '--no-watch']);
  const exit = await r.exit;
  assert.equal(exit.code, 2, r.err);
  assert.match(r.err, /server\.auth\.enabled.*not a loopback address.*allow_unauthenticated/s);
});

await test('--allow-unauthenticated lets it bind', async () => {
  const r = runServe(['--port', '0', '--bind', '0.0.0.0', '--set', 'server.auth.enabled=false', '--allow-unauthenticated', '--database', 'sqlite::memory:', '--no-watch', '--workers', '1']);
  await until('the banner', async () => /listening\s+http:\/\/0\.0\.0\.0:(\d+)/.test(r.out));
  const port = r.out.match(/listening\s+http:\/\/0\.0\.0\.0:(\d+)/)[1];
  assert.match(r.out, /auth\s+off \(allowed by server\.auth\.allow_unauthenticated\)/);
  const res = await getJSON(`http://127.0.0.1:${port}/api/v1/tasks`);
  assert.equal(res.status, 200);
  r.proc.kill('SIGTERM');
  assert.equal((await r.exit).code, 0);
});

await test('off loopback, auth is on by itself (auto): no key is a 401', async () => {
  const r = runServe(['--port', '0', '--bind', '0.0.0.0', '--database', 'sqlite::memory:', '--no-watch', '--workers', '1']);
  await until('the banner', async () => /listening\s+http:\/\/0\.0\.0\.0:(\d+)/.test(r.out));
  const port = r.out.match(/listening\s+http:\/\/0\.0\.0\.0:(\d+)/)[1];
  assert.match(r.out, /auth\s+on/);
  assert.equal((await getJSON(`http://127.0.0.1:${port}/api/v1/tasks`)).status, 401);
  assert.equal((await getJSON(`http://127.0.0.1:${port}/health`)).status, 200);
  r.proc.kill('SIGTERM');
  assert.equal((await r.exit).code, 0);
});

await test('a port in use is a clear error (exit 2)', async () => {
  const blocker = net.createServer();
  await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
  const { port } = blocker.address();
  const r = runServe(['--port', String(port), '--database', 'sqlite::memory:', '--no-watch', '--workers', '1']);
  const exit = await r.exit;
  blocker.close();
  assert.equal(exit.code, 2, r.err);
  assert.match(r.err, new RegExp(`port ${port}: the address is already in use`));
  assert.doesNotMatch(r.err, /pool: /, 'no worker was started');
});

await test('bad flags are usage errors', async () => {
  const r = cli(['serve', '--port', 'eighty']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /server\.port/);
});

await test('make run (scripts/run-default) serves the sample tasks', async () => {
  const dir = fs.mkdtempSync(path.join(process.env.RATCHET_TEST_WORK || '/tmp', 'run-default-'));
  const proc = spawn(path.join(root, 'scripts/run-default'), [bin, '--port', '0', '--database', `sqlite://${dir}/r.db`, '--workers', '1'], { env: { ...process.env, RATCHET_LOG_LEVEL: 'warn' } });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  const exit = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  await until('the banner', async () => /listening\s+http:\/\/127\.0\.0\.1:(\d+)/.test(out));
  assert.match(out, /tasks\s+4 loaded from sample\/tasks \(watching 5 folders\)/);
  const port = out.match(/listening\s+http:\/\/127\.0\.0\.1:(\d+)/)[1];
  const t = await getJSON(`http://127.0.0.1:${port}/api/v1/tasks?_sort=name&_end=1`);
  assert.equal(t.body[0].name, 'addition');
  proc.kill('SIGINT');
  assert.equal(await exit, 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

await test('ratchet apikey create/list/revoke, and the server takes the key', async () => {
  const keyed = await startServer({ keys: ['viewer'], args: ['--set', 'server.auth.enabled=true'] });
  try {
    const made = cli(['apikey', 'create', '--role', 'operator', '--name', 'cli-made', '--database', keyed.db]);
    assert.equal(made.status, 0, made.stderr);
    const key = made.stdout.trim();
    assert.match(key, /^rat_[0-9A-Za-z]{10}_[0-9A-Za-z]{40}$/);
    assert.match(made.stderr, /shown only now/);
    const ok = await getJSON(`${keyed.base}/api/v1/jobs`, { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(ok.status, 200);
    const list = cli(['apikey', 'list', '--database', keyed.db]);
    assert.match(list.stdout, /cli-made\s+rat_\S+\s+operator/);
    assert.ok(!list.stdout.includes(key.slice(15)), 'the secret is never listed');
    const rev = cli(['apikey', 'revoke', 'cli-made', '--database', keyed.db]);
    assert.equal(rev.status, 0, rev.stderr);
    // Another process revoked it: this server notices within its cache time (5 s).
    await until('the revoked key to be refused', async () => (await getJSON(`${keyed.base}/api/v1/jobs`, { headers: { Authorization: `Bearer ${key}` } })).status === 401, 8000);
    const bad = cli(['apikey', 'create', '--role', 'root', '--database', keyed.db]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /role must be admin, operator or viewer/);
  } finally {
    await keyed.stop();
    keyed.cleanup();
  }
});

process.exit(failed ? 1 : 0);
