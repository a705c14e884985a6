// Several nodes on one PostgreSQL (issue 7): real `ratchet serve` and `ratchet worker`
// processes on the database of RATCHET_TEST_PG_URL (a fresh schema per case), driven over
// REST and checked in the database itself with psql. Nodes are killed with SIGKILL.
//
//   - two and three nodes process 5,000 jobs while one is killed: each exactly once completed
//   - the scheduler leader is killed: another node fires the next fire times, none twice
//   - a job running on node A is cancelled through the REST API of node B
//   - GET /nodes shows which nodes are alive and what they run; a killed one turns not alive
//   - an idle node with a one-hour poll interval picks up an enqueue made on another node
//     (the LISTEN/NOTIFY wake-up is the only way it can)
//
// Every wait is a bounded poll for a condition; no assertion is about speed. Bounds grow under
// sanitizers. CLUSTER_TEST_FILTER=regex runs some cases.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bin, freshDatabase, sanitizerProblems, startServer } from './lib/server.mjs';

const pgBase = process.env.RATCHET_TEST_PG_URL || '';
const slow = process.env.SANITIZE ? 4 : 1;
const filter = process.env.CLUSTER_TEST_FILTER ? new RegExp(process.env.CLUSTER_TEST_FILTER) : null;
const work = fs.mkdtempSync(path.join(process.env.RATCHET_TEST_WORK || '/tmp', 'cluster-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failed = 0;

// Short leases and heartbeats: a killed node's jobs come back within seconds.
const FAST = ['job_queue.lease_ms=2000', 'job_queue.heartbeat_ms=200', 'workers.restart_backoff_ms=100',
  'job_queue.shutdown_grace_ms=10000'];

async function until(what, fn, timeoutMs = 30000, everyMs = 100) {
  const end = Date.now() + timeoutMs * slow;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// Rows of a query, as arrays of strings (psql unaligned, tab-separated).
function sql(url, query) {
  const r = spawnSync('psql', [url, '-X', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', query],
    { encoding: 'utf8', env: { ...process.env, PGGSSENCMODE: 'disable' } });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}
const one = (url, query) => Number(sql(url, query)[0][0]);

// ---- nodes ----

const nodes = new Set();

async function serveNode(url, name, { workers = 2, sets = [] } = {}) {
  const args = [...FAST, 'server.rate_limit.enabled=false', ...sets].flatMap((s) => ['--set', s]);
  const srv = await startServer({ backend: 'postgres', database: url, workers, args });
  const root = await (await fetch(`${srv.base}/`)).json();
  const n = {
    name, kind: 'serve', srv, pid: srv.proc.pid, nodeId: root.node,
    api: async (method, p, body) => {
      const init = { method, headers: {} };
      if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
      const r = await fetch(`${srv.base}/api/v1${p}`, init);
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    log: () => srv.log(),
    kill: async () => { srv.proc.kill('SIGKILL'); await srv.stop(); },
    stop: async () => (await srv.stop('SIGTERM', 30000 * slow)),
    dead: false,
  };
  n.get = (p) => n.api('GET', p);
  n.post = (p, b) => n.api('POST', p, b);
  nodes.add(n);
  return n;
}

function workerNode(url, name, { workers = 2, sets = [], logLevel = 'info' } = {}) {
  const log = path.join(work, `${name}.log`);
  const nodeId = `${name}-${process.pid}-${Date.now() % 100000}`;
  const args = ['--log-level', logLevel, 'worker', '--database', url, '--workers', String(workers), '--node-id', nodeId,
    ...[...FAST, ...sets].flatMap((s) => ['--set', s])];
  const out = fs.openSync(log, 'w');
  const child = spawn(bin, args, { stdio: ['ignore', out, out], env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RATCHET_'))) });
  fs.closeSync(out);
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const n = {
    name, kind: 'worker', pid: child.pid, nodeId,
    log: () => fs.readFileSync(log, 'utf8'),
    kill: async () => { child.kill('SIGKILL'); await exit; },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return exit;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30000 * slow);
      const r = await exit;
      clearTimeout(t);
      return r;
    },
  };
  nodes.add(n);
  return n;
}

async function stopAll() {
  const problems = [];
  for (const n of nodes) {
    const r = await n.stop();
    if (!n.killed && r.code !== 0) problems.push(`${n.name} exited with ${r.code ?? r.signal}:\n${n.log().split('\n').slice(-20).join('\n')}`);
    if (sanitizerProblems(n.log())) problems.push(`${n.name}: a sanitizer reported an error`);
  }
  nodes.clear();
  return problems;
}

async function kill(n) {
  n.killed = true;
  await n.kill();
}

// A node's worker processes are up (as its heartbeat recorded them).
function waitWorkers(url, n, count) {
  return until(`${n.name}'s workers`, () => one(url, `SELECT count(*) FROM workers WHERE node_id = '${n.nodeId}' AND status = 'ready'`) >= count, 60000);
}

// Kills n once both conditions hold: every node in `all` has completed jobs, and at least
// `min` jobs are done. Returns how many were done at the kill.
async function killMidway(url, n, all, min) {
  await until('every node to complete jobs', () => {
    const by = new Map(sql(url, "SELECT node_id, count(*) FROM executions WHERE status = 'completed' GROUP BY node_id"));
    return all.every((x) => by.get(x.nodeId) > 0) && [...by.values()].reduce((s, v) => s + Number(v), 0) >= min;
  }, 60000, 50);
  await kill(n);
  if (process.env.CLUSTER_DEBUG) console.log('# at kill', JSON.stringify(sql(url, "SELECT node_id, status, count(*) FROM executions GROUP BY node_id, status")));
  return one(url, "SELECT count(*) FROM jobs WHERE status = 'completed'");
}

// ---- tasks and jobs ----

async function createTasks(api) {
  const add = await api.post('/tasks', {
    name: 'c-add', version: '1.0.0',
    sourceCode: 'async function main(input) {\n  if (input.ms) await new Promise((r) => setTimeout(r, input.ms));\n  return { sum: input.a + input.b };\n}',
    inputSchema: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' }, ms: { type: 'integer' } }, required: ['a', 'b'] },
  });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  const wait = await api.post('/tasks', {
    name: 'c-wait', version: '1.0.0',
    sourceCode: 'async function main(input) { await new Promise((r) => setTimeout(r, input.ms)); return { waited: input.ms }; }',
  });
  assert.equal(wait.status, 201, JSON.stringify(wait.body));
}

// count jobs of c-add, each waiting ms (so that a node is killed while the queue is busy).
async function enqueueAdds(api, count, ms = 40) {
  for (let start = 0; start < count; start += 1000) {
    const jobs = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) jobs.push({ taskId: 'c-add', input: { a: i, b: 1, ms }, maxAttempts: 5 });
    const r = await api.post('/jobs/bulk', jobs);
    assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
  }
}

// The database's word: every job completed, with exactly one completed execution, the right
// output, and no execution left running.
function checkExactlyOnce(url, count) {
  assert.equal(one(url, 'SELECT count(*) FROM jobs'), count);
  assert.deepEqual(sql(url, "SELECT status, count(*) FROM jobs GROUP BY status"), [['completed', String(count)]]);
  const dup = sql(url, "SELECT job_id, count(*) FROM executions WHERE status = 'completed' GROUP BY job_id HAVING count(*) <> 1 LIMIT 5");
  assert.deepEqual(dup, [], 'a job completed more than once');
  assert.equal(one(url, "SELECT count(DISTINCT job_id) FROM executions WHERE status = 'completed'"), count);
  assert.equal(one(url, `SELECT count(*) FROM jobs j JOIN executions e ON e.job_id = j.id AND e.status = 'completed'
    WHERE (e.output::jsonb->>'sum')::int = (j.input::jsonb->>'a')::int + 1`), count, 'every output is right');
  assert.equal(one(url, "SELECT count(*) FROM executions WHERE status IN ('pending', 'running')"), 0, 'an execution was left running');
}

// ---- cases ----

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test('two nodes (serve + worker) process 5,000 jobs; the worker killed with SIGKILL: each job completed exactly once', async (url) => {
  const a = await serveNode(url, 'serve-a');
  await createTasks(a);
  const b = workerNode(url, 'worker-b');
  await waitWorkers(url, a, 2);
  await waitWorkers(url, b, 2);
  await enqueueAdds(a, 5000);
  const before = await killMidway(url, b, [a, b], 300);
  assert.ok(before < 5000, 'the queue was done before the kill');
  await until('5,000 jobs completed', () => one(url, "SELECT count(*) FROM jobs WHERE status = 'completed'") === 5000, 180000, 250);
  checkExactlyOnce(url, 5000);
  const byNode = Object.fromEntries(sql(url, "SELECT node_id, count(*) FROM executions WHERE status = 'completed' GROUP BY node_id"));
  assert.ok(byNode[a.nodeId] > 0 && byNode[b.nodeId] > 0, `completed by node: ${JSON.stringify(byNode)}`);
});

test('three nodes (2 serve + worker) process 5,000 jobs; a serve node killed with SIGKILL: each job completed exactly once, and it shows as not alive', async (url) => {
  const a = await serveNode(url, 'serve-a');
  await createTasks(a);
  const b = await serveNode(url, 'serve-b');
  const c = workerNode(url, 'worker-c');
  for (const n of [a, b, c]) await waitWorkers(url, n, 2);
  await enqueueAdds(a, 5000);
  const before = await killMidway(url, b, [a, b, c], 300);
  assert.ok(before < 5000, 'the queue was done before the kill');
  await until('5,000 jobs completed', () => one(url, "SELECT count(*) FROM jobs WHERE status = 'completed'") === 5000, 180000, 250);
  checkExactlyOnce(url, 5000);
  const list = await until('the killed node to be shown not alive', async () => {
    const r = (await a.get('/nodes')).body;
    const nb = r.find((n) => n.nodeId === b.nodeId);
    return nb && nb.alive === false && r;
  });
  const state = Object.fromEntries(list.map((n) => [n.nodeId, [n.alive, n.info.kind]]));
  assert.deepEqual(state, { [a.nodeId]: [true, 'serve'], [b.nodeId]: [false, 'serve'], [c.nodeId]: [true, 'worker'] });
  assert.equal(list.find((n) => n.nodeId === b.nodeId).status, 'running', 'its last word was "running": alive says otherwise');
});

test('scheduler takeover: the leader is killed; another node fires the next fire times within seconds, none twice', async (url) => {
  const a = await serveNode(url, 'serve-a', { workers: 1 });
  await createTasks(a);
  const b = await serveNode(url, 'serve-b', { workers: 1 });
  const s = await a.post('/schedules', { taskId: 'c-add', name: 'every second', cronExpression: '* * * * * *', input: { a: 1, b: 1 } });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const sid = s.body.id;
  const jobsOf = () => sql(url, `SELECT run_at FROM jobs WHERE schedule_id = ${sid} ORDER BY run_at`).map((r) => Number(r[0]));
  await until('three fires', () => jobsOf().length >= 3);
  const leaders = await until('one leader', async () => {
    const l = (await a.get('/nodes')).body.filter((n) => n.isScheduler);
    return l.length === 1 && l;
  });
  const leader = leaders[0].nodeId === a.nodeId ? a : b;
  const other = leader === a ? b : a;
  await kill(leader);
  const killedAt = Date.now();
  await until('the other node to take the scheduler over', async () => {
    const r = (await other.get('/nodes')).body;
    return r.find((n) => n.nodeId === other.nodeId)?.isScheduler === true;
  });
  await until('fire times after the kill', () => jobsOf().some((t) => t > killedAt + 2000));
  // stop it, then look at every fire time it made
  assert.equal((await other.post(`/schedules/${sid}/disable`)).status, 200);
  const fires = jobsOf();
  assert.equal(new Set(fires).size, fires.length, 'a fire time was enqueued twice');
  assert.deepEqual(sql(url, `SELECT run_at, count(*) FROM jobs WHERE schedule_id = ${sid} GROUP BY run_at HAVING count(*) > 1`), []);
  for (let i = 1; i < fires.length; i++) assert.equal(fires[i] - fires[i - 1], 1000, `no second lost across the takeover (${new Date(fires[i - 1]).toISOString()} -> ${new Date(fires[i]).toISOString()})`);
  const count = fires.length;
  await until('every fired job to complete (the dead leader\'s through lease recovery)', () => one(url, `SELECT count(*) FROM jobs WHERE schedule_id = ${sid} AND status = 'completed'`) === count);
  const after = (await other.get(`/schedules/${sid}`)).body;
  assert.equal(after.executionCount, count);
});

test('cross-node cancel: a job running on node A is cancelled through node B and stops on A; A\'s record shows what it runs', async (url) => {
  // Long heartbeats: the cancel can only reach A through PostgreSQL NOTIFY within the wait.
  const sets = ['job_queue.heartbeat_ms=120000', 'job_queue.lease_ms=240000'];
  const a = await serveNode(url, 'serve-a', { workers: 1, sets });
  await createTasks(a);
  const b = await serveNode(url, 'serve-b', { workers: 1, sets });
  const q = await b.post('/jobs', { taskId: 'c-wait', input: { ms: 600000 }, maxAttempts: 3 });
  assert.equal(q.status, 201);
  const id = q.body.id;
  const running = await until('the job to run', async () => { const j = (await a.get(`/jobs/${id}`)).body; return j.status === 'PROCESSING' && j; });
  const [owner, other] = running.leaseOwner === a.nodeId ? [a, b] : [b, a];
  assert.equal(running.leaseOwner, owner.nodeId);
  const view = (await other.get(`/nodes/${owner.nodeId}`)).body;
  assert.equal(view.alive, true);
  assert.deepEqual(view.runningJobs, [id], 'the owner\'s record says it runs the job');
  const c = await other.post(`/jobs/${id}/cancel`);
  assert.equal(c.status, 200, JSON.stringify(c.body));
  const done = await until('the job to be cancelled', async () => { const j = (await other.get(`/jobs/${id}`)).body; return j.status === 'CANCELLED' && j; }, 20000);
  assert.equal(done.attempts, 1, 'a cancelled job is not retried');
  const ex = (await other.get(`/executions?jobId=${id}`)).body;
  assert.equal(ex.length, 1);
  assert.equal(ex[0].status, 'CANCELLED');
  assert.equal(ex[0].errorType, 'CancelledError');
  assert.equal(ex[0].nodeId, owner.nodeId, 'it stopped where it ran');
  assert.deepEqual((await other.get(`/nodes/${owner.nodeId}`)).body.runningJobs, []);
  assert.deepEqual(sql(url, `SELECT status FROM jobs WHERE id = ${id}`), [['cancelled']]);
  assert.deepEqual(sql(url, `SELECT status, error_type FROM executions WHERE job_id = ${id}`), [['cancelled', 'CancelledError']]);
});

test('cross-node cancel of a direct run: a synchronous execute on node A is stopped through node B', async (url) => {
  const sets = ['job_queue.heartbeat_ms=120000', 'job_queue.lease_ms=240000'];
  const a = await serveNode(url, 'serve-a', { workers: 1, sets });
  await createTasks(a);
  const b = await serveNode(url, 'serve-b', { workers: 1, sets });
  const pending = a.post('/tasks/c-wait/execute', { input: { ms: 600000 }, timeoutMs: 600000 });
  const ex = await until('the direct run on A', async () => {
    const rows = (await b.get('/executions?_sort=id&_order=desc&_end=1')).body;
    return rows[0] && rows[0].jobId === null && rows[0].status === 'RUNNING' && rows[0];
  });
  assert.equal(ex.nodeId, a.nodeId);
  const c = await b.post(`/executions/${ex.id}/cancel`);
  assert.equal(c.status, 200, JSON.stringify(c.body));
  const r = await pending;
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.equal(r.body.status, 'CANCELLED');
  const row = (await b.get(`/executions/${ex.id}`)).body;
  assert.equal(row.status, 'CANCELLED');
  assert.equal(row.nodeId, a.nodeId, 'it stopped where it ran');
});

test('an idle node wakes on NOTIFY: a worker polling once an hour runs what another node enqueued', async (url) => {
  // A: one worker with one slot, kept busy, so it cannot take the jobs itself.
  const a = await serveNode(url, 'serve-a', { workers: 1, sets: ['workers.max_concurrent_runs=1'] });
  await createTasks(a);
  const busy = (await a.post('/jobs', { taskId: 'c-wait', input: { ms: 600000 } })).body.id;
  await until('A to be busy', async () => (await a.get(`/jobs/${busy}`)).body.status === 'PROCESSING');
  // B: polls once an hour and renews nothing meanwhile; only a notification can wake it.
  const b = workerNode(url, 'worker-b', { workers: 1, logLevel: 'debug',
    sets: ['job_queue.poll_interval_ms=3600000', 'job_queue.heartbeat_ms=1800000', 'job_queue.lease_ms=3600000'] });
  await until('B\'s worker to be ready', () => /pool: \S+ ready/.test(b.log()));
  const first = (await a.post('/jobs', { taskId: 'c-add', input: { a: 1, b: 2 } })).body.id;
  await until('the first job', async () => (await a.get(`/jobs/${first}`)).body.status === 'COMPLETED');
  // B is idle now (its start-up claim is long done): this one can only arrive by NOTIFY.
  const second = (await a.post('/jobs', { taskId: 'c-add', input: { a: 2, b: 2 } })).body.id;
  const job = await until('the second job', async () => { const j = (await a.get(`/jobs/${second}`)).body; return j.status === 'COMPLETED' && j; });
  assert.deepEqual(job.output, { sum: 4 });
  const ran = sql(url, `SELECT job_id, node_id FROM executions WHERE job_id IN (${first}, ${second}) ORDER BY job_id`);
  assert.deepEqual(ran, [[String(first), b.nodeId], [String(second), b.nodeId]]);
  assert.equal((await a.post(`/jobs/${busy}/cancel`)).status, 200);
});

// ---------------------------------------------------------------------------------------

if (!pgBase) {
  console.log('# RATCHET_TEST_PG_URL is not set (tests/run starts one with scripts/pg-test-server)');
  console.log('not ok - cluster: a PostgreSQL to test against');
  process.exit(1);
}
for (const c of cases) {
  if (filter && !filter.test(c.name)) continue;
  let problems = [];
  try {
    const url = freshDatabase('postgres', work);
    await c.fn(url);
  } catch (e) {
    problems.push(String(e.stack || e).split('\n').slice(0, 20).join('\n'));
  }
  const logs = [...nodes].map((n) => `--- ${n.name}\n${n.log().split('\n').slice(-15).join('\n')}`);
  problems = problems.concat(await stopAll());
  if (problems.length) {
    failed++;
    for (const p of problems) for (const l of p.split('\n')) console.log(`# ${l}`);
    for (const l of logs.join('\n').split('\n')) console.log(`#   ${l}`);
    console.log(`not ok - cluster: ${c.name}`);
  } else {
    console.log(`ok - cluster: ${c.name}`);
  }
}
if (!failed) fs.rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
