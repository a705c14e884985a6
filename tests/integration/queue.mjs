// The job queue end to end, on SQLite and on the PostgreSQL of RATCHET_TEST_PG_URL: the real
// `ratchet worker` node (and its worker processes) against a fresh database per case, jobs
// enqueued and inspected through the store API by tests/helpers/queue_tool, processes killed
// with real signals. Every wait is a bounded poll for a condition; assertions are about what
// the store recorded (statuses, attempts, executions, their timestamps), never about speed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = process.env.RATCHET_ROOT || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const bin = process.env.RATCHET_BIN || path.join(root, 'build/ratchet');
const build = process.env.RATCHET_BUILD || path.join(root, 'build');
const tool = path.join(build, 'helpers/queue_tool');
const tasksDir = path.join(root, 'tests/data/queue');
const work = fs.mkdtempSync(path.join(process.env.RATCHET_TEST_WORK || os.tmpdir(), 'queue-'));
const pgBase = process.env.RATCHET_TEST_PG_URL || '';
const filter = process.env.QUEUE_TEST_FILTER ? new RegExp(process.env.QUEUE_TEST_FILTER) : null;
const sanitized = !!process.env.SANITIZE;
const slow = sanitized ? 4 : 1; // bounds of waits grow under sanitizers

const children = new Set();
process.on('exit', () => {
  for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ }
  fs.rmSync(work, { recursive: true, force: true });
});

let failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Fail extends Error {}
function assert(cond, msg) { if (!cond) throw new Fail(msg); }

function q(url, ...args) {
  const res = spawnSync(tool, [url, ...args.map(String)], { encoding: 'utf8', timeout: 120000, env: { ...process.env, RATCHET_LOG_LEVEL: 'warn' } });
  if (res.status !== 0) throw new Fail(`queue_tool ${args.join(' ')}: ${res.stderr || res.error}`);
  return res.stdout.trim() ? JSON.parse(res.stdout) : null;
}
const jobs = (url) => q(url, 'jobs');
const executions = (url) => q(url, 'executions');
const ms = (t) => (t ? Date.parse(t) : null);

async function waitFor(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs * slow;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function waitJobs(url, status, count, timeoutMs = 30000) {
  return waitFor(`${count} jobs ${status}`, () => jobs(url).filter((j) => j.status === status).length >= count, timeoutMs);
}

let caseSeq = 0;
function freshDb(store) {
  caseSeq++;
  if (store === 'sqlite') return `sqlite://${work}/case-${caseSeq}.db`;
  if (!pgBase) throw new Fail('RATCHET_TEST_PG_URL is not set: no PostgreSQL (tests/run starts one)');
  const res = spawnSync(tool, [pgBase, 'pg-schema', `q_${process.pid}_${caseSeq}`], { encoding: 'utf8' });
  if (res.status !== 0) throw new Fail(`pg-schema: ${res.stderr}`);
  return res.stdout.trim();
}

// A `ratchet worker` node. Settings keep leases and heartbeats short so recovery is quick.
function startNode(url, { workers = 2, sets = [], name = 'node' } = {}) {
  const log = path.join(work, `${name}-${caseSeq}-${Date.now()}.log`);
  const args = ['worker', '--database', url, '--tasks', tasksDir, '--workers', String(workers),
    '--set', 'job_queue.lease_ms=2000', '--set', 'job_queue.heartbeat_ms=200',
    '--set', 'workers.restart_backoff_ms=100', '--set', 'job_queue.shutdown_grace_ms=10000',
    ...sets.flatMap((s) => ['--set', s])];
  const out = fs.openSync(log, 'w');
  const child = spawn(bin, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  children.add(child);
  const node = {
    child, log, pid: child.pid, exited: null,
    exit: new Promise((resolve) => child.on('exit', (code, signal) => { children.delete(child); node.exited = { code, signal }; resolve(node.exited); })),
    logText: () => fs.readFileSync(log, 'utf8'),
  };
  return node;
}

// The node's worker processes (its children).
function workerPids(node) {
  const res = spawnSync('ps', ['-o', 'pid=', '--ppid', String(node.pid)], { encoding: 'utf8' });
  return res.stdout.split('\n').map((s) => parseInt(s, 10)).filter((n) => n > 0);
}

async function stopNode(node, signal = 'SIGTERM') {
  if (node.exited) return node.exited;
  node.child.kill(signal);
  const r = await Promise.race([node.exit, sleep(30000 * slow).then(() => null)]);
  if (!r) { node.child.kill('SIGKILL'); throw new Fail(`node did not exit on ${signal}`); }
  return r;
}

async function waitReady(url, node, workers = 2) {
  await waitFor('the node\'s workers', () => {
    if (node.exited) throw new Fail(`node exited early: ${node.logText().slice(-800)}`);
    return q(url, 'workers').filter((w) => w.status === 'ready').length >= workers;
  }, 30000);
}

function sanitizerProblems(text) {
  return /ERROR: (Address|Leak|Thread)Sanitizer|runtime error:/.test(text) ? 'a sanitizer reported an error' : null;
}

const cases = [];
function test(name, fn) { cases.push({ name, fn }); }

// ---------------------------------------------------------------------------------------

test('1000 jobs of mixed priority complete once each, in priority order per worker', async (url) => {
  const prios = ['LOW', 'NORMAL', 'HIGH', 'CRITICAL'];
  // enqueued before the node starts, so every claim sees all of them
  for (let i = 0; i < 20; i++) {
    for (const p of prios) q(url, 'enqueue', 'q-add', '--count', (i * 7 + p.length) % 23 + 1, '--priority', p, '--input', `{"num1":${i},"num2":1}`);
  }
  const total = jobs(url).length;
  assert(total > 400, `enqueued only ${total}`);
  const more = 1000 - total;
  q(url, 'enqueue', 'q-add', '--count', more, '--priority', 'NORMAL', '--input', '{"num1":5,"num2":5}');
  const node = startNode(url, { workers: 2 });
  await waitJobs(url, 'COMPLETED', 1000, 60000);
  await stopNode(node);
  const js = jobs(url);
  assert(js.length === 1000, `${js.length} jobs`);
  const ex = executions(url);
  const perJob = new Map();
  for (const e of ex) perJob.set(e.jobId, (perJob.get(e.jobId) || 0) + 1);
  for (const j of js) {
    assert(j.status === 'COMPLETED', `job ${j.id} is ${j.status}`);
    assert(j.attempts === 1 && perJob.get(j.id) === 1, `job ${j.id}: ${j.attempts} attempts, ${perJob.get(j.id)} executions`);
    assert(j.output && j.output.sum === j.input.num1 + j.input.num2, `job ${j.id} output ${JSON.stringify(j.output)}`);
  }
  const prioOf = new Map(js.map((j) => [j.id, prios.indexOf(j.priority)]));
  const byWorker = new Map();
  for (const e of ex) {
    if (!byWorker.has(e.workerId)) byWorker.set(e.workerId, []);
    byWorker.get(e.workerId).push(e);
  }
  assert(byWorker.size >= 2, `${byWorker.size} workers ran jobs`);
  for (const [w, list] of byWorker) {
    list.sort((a, b) => a.id - b.id); // execution ids follow claim order
    for (let i = 1; i < list.length; i++) {
      const a = prioOf.get(list[i - 1].jobId), b = prioOf.get(list[i].jobId);
      assert(b <= a, `worker ${w}: job ${list[i].jobId} (${prios[b]}) ran after ${list[i - 1].jobId} (${prios[a]})`);
    }
  }
  // and within a priority, in the order they were enqueued
  const order = ex.slice().sort((a, b) => a.id - b.id).map((e) => e.jobId);
  for (let i = 1; i < order.length; i++) {
    const a = order[i - 1], b = order[i];
    if (prioOf.get(a) === prioOf.get(b)) assert(b > a, `job ${b} ran before ${a} of the same priority`);
  }
});

test('failed attempts are retried with exponential backoff, then dead-lettered with every error kept', async (url) => {
  const node = startNode(url, { workers: 1 });
  const { ids: [id] } = q(url, 'enqueue', 'q-fail', '--input', '{"fail":true}', '--max-attempts', 3,
    '--retry-policy', '{"initialDelayMs":300,"multiplier":2,"jitter":0}');
  const { ids: [okId] } = q(url, 'enqueue', 'q-fail', '--input', '{"fail":false}', '--max-attempts', 3);
  await waitJobs(url, 'FAILED', 1, 30000);
  await waitJobs(url, 'COMPLETED', 1, 30000);
  await stopNode(node);
  const job = jobs(url).find((j) => j.id === id);
  assert(job.attempts === 3 && job.maxAttempts === 3, `attempts ${job.attempts}/${job.maxAttempts}`);
  assert(job.errorMessage === 'asked to fail', `job error ${job.errorMessage}`);
  const ex = executions(url).filter((e) => e.jobId === id).sort((a, b) => a.id - b.id);
  assert(ex.length === 3, `${ex.length} executions`);
  ex.forEach((e, i) => {
    assert(e.status === 'FAILED' && e.attempt === i + 1, `execution ${i}: ${e.status} attempt ${e.attempt}`);
    assert(e.errorType === 'Error' && e.errorMessage === 'asked to fail', `execution ${i} error ${e.errorType}: ${e.errorMessage}`);
  });
  // each retry waited at least its backoff (300 ms, then 600 ms) after the failure
  const gap1 = ms(ex[1].startedAt) - ms(ex[0].completedAt), gap2 = ms(ex[2].startedAt) - ms(ex[1].completedAt);
  assert(gap1 >= 299, `first retry after ${gap1} ms`);
  assert(gap2 >= 599, `second retry after ${gap2} ms`);
  const ok = jobs(url).find((j) => j.id === okId);
  assert(ok.attempts === 1, `a job that succeeds is not retried (${ok.attempts} attempts)`);
  // manual retry of the dead letter: one more attempt
  const row = q(url, 'retry', id);
  assert(row.status === 'QUEUED', `retried job is ${row.status}`);
  const node2 = startNode(url, { workers: 1, name: 'node2' });
  await waitFor('the retried job to fail again', () => { const j = jobs(url).find((x) => x.id === id); return j.status === 'FAILED' && j.attempts === 4; });
  await stopNode(node2);
  assert(executions(url).filter((e) => e.jobId === id).length === 4, 'manual retry made a 4th execution');
});

test('input that fails its schema goes straight to failed', async (url) => {
  const node = startNode(url, { workers: 1 });
  const { ids: [id] } = q(url, 'enqueue', 'q-add', '--input', '{"num1":"x"}', '--max-attempts', 5);
  await waitJobs(url, 'FAILED', 1);
  await stopNode(node);
  const job = jobs(url).find((j) => j.id === id);
  assert(job.attempts === 1, `retried ${job.attempts - 1} times`);
  const [e] = executions(url).filter((x) => x.jobId === id);
  assert(e.errorType === 'ValidationError', `error type ${e.errorType}`);
});

test('cancel: a queued job at once, a running one stops and is recorded cancelled', async (url) => {
  const node = startNode(url, { workers: 1 });
  await waitReady(url, node, 1);
  const { ids: [later] } = q(url, 'enqueue', 'q-sleep', '--input', '{"ms":10}', '--delay-ms', 600000);
  assert(q(url, 'cancel', later).status === 'cancelled', 'a queued job is cancelled at once');
  const { ids: [id] } = q(url, 'enqueue', 'q-sleep', '--input', '{"ms":600000}', '--max-attempts', 3);
  await waitFor('the run to start', () => executions(url).some((e) => e.jobId === id && e.status === 'RUNNING'));
  const c = q(url, 'cancel', id);
  assert(c.status === 'processing', `cancel of a running job answered ${c.status}`);
  await waitJobs(url, 'CANCELLED', 2, 20000);
  // the worker is still fine: a new job runs
  const { ids: [next] } = q(url, 'enqueue', 'q-add', '--input', '{"num1":1,"num2":2}');
  await waitFor('the next job', () => jobs(url).find((j) => j.id === next).status === 'COMPLETED');
  await stopNode(node);
  const job = jobs(url).find((j) => j.id === id);
  assert(job.attempts === 1, `a cancelled job is not retried (${job.attempts})`);
  const ex = executions(url).filter((e) => e.jobId === id);
  assert(ex.length === 1 && ex[0].status === 'CANCELLED', `execution ${ex.map((e) => e.status)}`);
  assert(ex[0].errorType === 'CancelledError', `error type ${ex[0].errorType}`);
});

test('a run past its timeout is stopped; the job follows its retry policy; the worker goes on', async (url) => {
  const node = startNode(url, { workers: 1 });
  const { ids: [id] } = q(url, 'enqueue', 'q-spin', '--timeout-ms', 300, '--max-attempts', 2,
    '--retry-policy', '{"initialDelayMs":50,"jitter":0}');
  await waitJobs(url, 'FAILED', 1, 30000);
  const { ids: [next] } = q(url, 'enqueue', 'q-add', '--input', '{"num1":2,"num2":2}');
  await waitFor('a job after the timeouts', () => jobs(url).find((j) => j.id === next).status === 'COMPLETED');
  await stopNode(node);
  const ex = executions(url).filter((e) => e.jobId === id);
  assert(ex.length === 2, `${ex.length} executions`);
  for (const e of ex) assert(e.errorType === 'TimeoutError' && e.status === 'FAILED', `execution ${e.status} ${e.errorType}: ${e.errorMessage}`);
});

test('a worker killed with SIGKILL mid-run: its runs fail with "worker crashed", are retried, the worker is replaced', async (url) => {
  const node = startNode(url, { workers: 1 });
  await waitReady(url, node, 1);
  const { ids: [id] } = q(url, 'enqueue', 'q-sleep', '--input', '{"ms":1500}', '--max-attempts', 3,
    '--retry-policy', '{"initialDelayMs":50,"jitter":0}');
  await waitFor('the run to start', () => executions(url).some((e) => e.jobId === id && e.status === 'RUNNING'));
  const pids = workerPids(node);
  assert(pids.length === 1, `worker processes: ${pids}`);
  process.kill(pids[0], 'SIGKILL');
  await waitJobs(url, 'COMPLETED', 1, 30000);
  const after = workerPids(node);
  await stopNode(node);
  assert(after.length === 1 && after[0] !== pids[0], `workers after the kill: ${after}`);
  const ex = executions(url).filter((e) => e.jobId === id).sort((a, b) => a.id - b.id);
  assert(ex.length === 2, `${ex.length} executions`);
  assert(ex[0].status === 'FAILED' && ex[0].errorType === 'WorkerCrashed' && /worker crashed/.test(ex[0].errorMessage), `first: ${ex[0].status} ${ex[0].errorType}: ${ex[0].errorMessage}`);
  assert(ex[1].status === 'COMPLETED' && ex[1].workerId !== ex[0].workerId, `second: ${ex[1].status} on ${ex[1].workerId}`);
});

test('the node killed with SIGKILL mid-queue and restarted: every job done once, none twice', async (url) => {
  q(url, 'enqueue', 'q-sleep', '--count', 300, '--input', '{"ms":20}', '--max-attempts', 5);
  const node = startNode(url, { workers: 2 });
  await waitFor('some jobs to complete', () => jobs(url).filter((j) => j.status === 'COMPLETED').length >= 40);
  const pids = workerPids(node);
  node.child.kill('SIGKILL');
  await node.exit;
  // the workers die with their node (no run goes on unowned)
  await waitFor('the workers to die with the node', () => pids.every((p) => { try { process.kill(p, 0); return false; } catch { return true; } }), 10000);
  const mid = jobs(url);
  assert(mid.some((j) => j.status !== 'COMPLETED'), 'the node was killed after the queue was done');
  const node2 = startNode(url, { workers: 2, name: 'restarted' });
  await waitJobs(url, 'COMPLETED', 300, 60000);
  await stopNode(node2);
  const ex = executions(url);
  const done = new Map();
  for (const e of ex) if (e.status === 'COMPLETED') done.set(e.jobId, (done.get(e.jobId) || 0) + 1);
  for (const j of jobs(url)) {
    assert(j.status === 'COMPLETED', `job ${j.id} ${j.status}`);
    assert(done.get(j.id) === 1, `job ${j.id} completed ${done.get(j.id)} times`);
  }
  assert(!ex.some((e) => e.status === 'RUNNING' || e.status === 'PENDING'), 'an execution was left running');
});

test('unique keys: an active job with the key is returned instead of a new one', async (url) => {
  const a = q(url, 'enqueue', 'q-add', '--input', '{"num1":1,"num2":1}', '--unique', 'k1', '--delay-ms', 1500);
  const b = q(url, 'enqueue', 'q-add', '--input', '{"num1":9,"num2":9}', '--unique', 'k1');
  assert(a.deduplicated[0] === false && b.deduplicated[0] === true && a.ids[0] === b.ids[0], `ids ${a.ids} ${b.ids}`);
  const node = startNode(url, { workers: 1 });
  await waitJobs(url, 'COMPLETED', 1, 30000);
  const c = q(url, 'enqueue', 'q-add', '--input', '{"num1":2,"num2":2}', '--unique', 'k1');
  assert(c.deduplicated[0] === false && c.ids[0] !== a.ids[0], 'after it finished, the key is free again');
  await waitJobs(url, 'COMPLETED', 2, 30000);
  await stopNode(node);
  assert(jobs(url).length === 2, 'two jobs in all');
});

test('concurrency keys: never more than N running per key', async (url) => {
  q(url, 'enqueue', 'q-sleep', '--count', 12, '--input', '{"ms":120}', '--concurrency-key', 'acct-1', '--concurrency-limit', 2);
  q(url, 'enqueue', 'q-sleep', '--count', 6, '--input', '{"ms":120}', '--concurrency-key', 'acct-2', '--concurrency-limit', 1);
  const node = startNode(url, { workers: 2 });
  await waitJobs(url, 'COMPLETED', 18, 60000);
  await stopNode(node);
  const keyOf = new Map(jobs(url).map((j) => [j.id, [j.concurrencyKey, j.concurrencyLimit]]));
  const ex = executions(url);
  for (const [key, limit] of [['acct-1', 2], ['acct-2', 1]]) {
    const list = ex.filter((e) => keyOf.get(e.jobId)[0] === key);
    let peak = 0;
    for (const e of list) {
      const t = ms(e.startedAt);
      const running = list.filter((o) => ms(o.startedAt) <= t && t < ms(o.completedAt)).length;
      peak = Math.max(peak, running);
    }
    assert(peak <= limit, `${key}: ${peak} ran at once (limit ${limit})`);
    assert(peak === limit, `${key}: the limit ${limit} was never reached (${peak})`);
  }
});

test('circuit breaker: opens after K failures, one probe at a time, closes on success', async (url) => {
  const node = startNode(url, { workers: 1, sets: ['job_queue.circuit_breaker.failure_threshold=3', 'job_queue.circuit_breaker.cooldown_ms=1000'] });
  await waitReady(url, node, 1);
  q(url, 'enqueue', 'q-fail', '--count', 3, '--input', '{"fail":true}', '--max-attempts', 1);
  await waitJobs(url, 'FAILED', 3);
  const openedAt = Math.max(...executions(url).map((e) => ms(e.completedAt)));
  // the next job is a failing probe, then three good ones
  q(url, 'enqueue', 'q-fail', '--input', '{"fail":true}', '--max-attempts', 1, '--priority', 'HIGH');
  q(url, 'enqueue', 'q-fail', '--count', 3, '--input', '{"fail":false}', '--max-attempts', 1);
  await waitJobs(url, 'COMPLETED', 3, 30000);
  await stopNode(node);
  const ex = executions(url).sort((a, b) => a.id - b.id).slice(3);
  assert(ex.length === 4, `${ex.length} executions after the breaker opened`);
  const [probe1, probe2, ...rest] = ex;
  assert(probe1.status === 'FAILED', `first probe ${probe1.status}`);
  assert(ms(probe1.startedAt) >= openedAt + 999, `first probe ${ms(probe1.startedAt) - openedAt} ms after opening`);
  assert(probe2.status === 'COMPLETED' && ms(probe2.startedAt) >= ms(probe1.completedAt) + 999, `second probe ${ms(probe2.startedAt) - ms(probe1.completedAt)} ms after the first failed`);
  for (const e of rest) assert(ms(e.startedAt) >= ms(probe2.completedAt), 'a job ran beside the probe');
});

test('graceful drain on SIGTERM: runs finish; past the grace period jobs are requeued', async (url) => {
  const node = startNode(url, { workers: 1 });
  await waitReady(url, node, 1);
  q(url, 'enqueue', 'q-sleep', '--count', 3, '--input', '{"ms":800}');
  await waitFor('the runs to start', () => executions(url).filter((e) => e.status === 'RUNNING').length === 3);
  const r = await stopNode(node, 'SIGTERM');
  assert(r.code === 0, `exit ${JSON.stringify(r)}`);
  assert(jobs(url).every((j) => j.status === 'COMPLETED'), 'drained runs completed');
  const nodes = q(url, 'nodes');
  assert(nodes.length === 1 && nodes[0].status === 'stopped', `node record ${nodes.map((n) => n.status)}`);

  const node2 = startNode(url, { workers: 1, name: 'short-grace', sets: ['job_queue.shutdown_grace_ms=300'] });
  await waitReady(url, node2, 1);
  const { ids } = q(url, 'enqueue', 'q-sleep', '--count', 2, '--input', '{"ms":600000}');
  await waitFor('the long runs to start', () => executions(url).filter((e) => ids.includes(e.jobId) && e.status === 'RUNNING').length === 2);
  const r2 = await stopNode(node2, 'SIGTERM');
  assert(r2.code === 0, `exit ${JSON.stringify(r2)}`);
  for (const id of ids) {
    const j = jobs(url).find((x) => x.id === id);
    assert(j.status === 'QUEUED' && j.attempts === 0, `job ${id} ${j.status} attempts ${j.attempts}`);
    const [e] = executions(url).filter((x) => x.jobId === id);
    assert(e.status === 'CANCELLED' && e.errorType === 'Requeued', `execution ${e.status} ${e.errorType}`);
  }
});

test('two nodes share one queue; one killed with SIGKILL: every job completed exactly once', async (url) => {
  q(url, 'enqueue', 'q-sleep', '--count', 400, '--input', '{"ms":15}', '--max-attempts', 5);
  const a = startNode(url, { workers: 1, name: 'node-a' });
  const b = startNode(url, { workers: 1, name: 'node-b' });
  await waitFor('both nodes to run jobs', () => new Set(executions(url).map((e) => e.nodeId)).size === 2);
  a.child.kill('SIGKILL');
  await a.exit;
  await waitJobs(url, 'COMPLETED', 400, 90000);
  await stopNode(b);
  const done = new Map();
  for (const e of executions(url)) if (e.status === 'COMPLETED') done.set(e.jobId, (done.get(e.jobId) || 0) + 1);
  for (const j of jobs(url)) assert(done.get(j.id) === 1, `job ${j.id} completed ${done.get(j.id)} times`);
});

test('a worker that stops answering pings is replaced; its run is retried', async (url) => {
  const node = startNode(url, { workers: 1, sets: ['workers.health_check_interval_ms=200'] });
  await waitReady(url, node, 1);
  const { ids: [id] } = q(url, 'enqueue', 'q-sleep', '--input', '{"ms":300}', '--max-attempts', 3,
    '--retry-policy', '{"initialDelayMs":50,"jitter":0}');
  await waitFor('the run to start', () => executions(url).some((e) => e.jobId === id && e.status === 'RUNNING'));
  const [pid] = workerPids(node);
  process.kill(pid, 'SIGSTOP'); // alive, but deaf
  await waitJobs(url, 'COMPLETED', 1, 30000);
  await stopNode(node);
  const ex = executions(url).filter((e) => e.jobId === id).sort((a, b) => a.id - b.id);
  assert(ex.length === 2 && ex[0].errorType === 'WorkerCrashed' && ex[1].status === 'COMPLETED',
    `executions: ${ex.map((e) => `${e.status} ${e.errorType}`)}`);
  assert(/answered no ping/.test(node.logText()), 'the node says why it killed the worker');
});

test('workers past the RSS limit are recycled between runs', async (url) => {
  const node = startNode(url, { workers: 1, sets: ['workers.max_rss_mb=1', 'workers.health_check_interval_ms=100'] });
  await waitReady(url, node, 1);
  for (let i = 0; i < 6; i++) {
    q(url, 'enqueue', 'q-sleep', '--count', 3, '--input', '{"ms":60}');
    await waitJobs(url, 'COMPLETED', 3 * (i + 1), 30000);
  }
  await stopNode(node);
  const ws = new Set(executions(url).map((e) => e.workerId));
  assert(ws.size >= 2, `${ws.size} workers ran the jobs`);
  assert(executions(url).every((e) => e.status === 'COMPLETED'), 'a recycled worker\'s runs finish');
  assert(/RSS .* over the limit/.test(node.logText()), 'the node says why it recycled');
});

test('a run that logs and throws far too much is still reported, and its worker goes on', async (url) => {
  const node = startNode(url, { workers: 1 });
  const { ids: [big] } = q(url, 'enqueue', 'q-noisy', '--input', '{"lines":3000,"throw":20000000}', '--max-attempts', 1);
  const { ids: [ok] } = q(url, 'enqueue', 'q-noisy', '--input', '{"lines":10}', '--max-attempts', 1);
  await waitJobs(url, 'FAILED', 1, 60000);
  await waitJobs(url, 'COMPLETED', 1, 60000);
  await stopNode(node);
  const ex = executions(url);
  const e1 = ex.find((e) => e.jobId === big), e2 = ex.find((e) => e.jobId === ok);
  assert(e1.status === 'FAILED' && e1.errorType === 'Error' && e1.errorMessage.startsWith('yyyy'), `big: ${e1.status} ${e1.errorType}`);
  assert(e1.errorMessage.length <= 65536, `the error message kept is ${e1.errorMessage.length} bytes`);
  assert(e2.status === 'COMPLETED' && e2.workerId === e1.workerId, 'the same worker ran the next job');
  assert(q(url, 'logs', e2.id).length === 10, 'the next run\'s logs are recorded');
});

test('workers are recycled after N runs', async (url) => {
  q(url, 'enqueue', 'q-add', '--count', 20, '--input', '{"num1":1,"num2":2}');
  const node = startNode(url, { workers: 1, sets: ['workers.recycle_after_runs=5'] });
  await waitJobs(url, 'COMPLETED', 20, 60000);
  await stopNode(node);
  const perWorker = new Map();
  for (const e of executions(url)) perWorker.set(e.workerId, (perWorker.get(e.workerId) || 0) + 1);
  assert(perWorker.size === 4, `${perWorker.size} workers ran 20 jobs`);
  for (const [w, n] of perWorker) assert(n === 5, `worker ${w} ran ${n} jobs`);
});

// ---------------------------------------------------------------------------------------

for (const store of ['sqlite', 'postgres']) {
  for (const c of cases) {
    const name = `${c.name} (${store})`;
    if (filter && !filter.test(name)) continue;
    let url;
    try {
      url = freshDb(store);
      q(url, 'sync', tasksDir);
      await c.fn(url);
      for (const f of fs.readdirSync(work).filter((x) => x.endsWith('.log'))) {
        const p = sanitizerProblems(fs.readFileSync(path.join(work, f), 'utf8'));
        if (p) throw new Fail(`${p} (${f})`);
      }
      console.log(`ok - queue: ${name}`);
    } catch (e) {
      failed++;
      console.log(`# ${e instanceof Fail ? e.message : e.stack}`);
      for (const f of fs.readdirSync(work).filter((x) => x.endsWith('.log'))) {
        const text = fs.readFileSync(path.join(work, f), 'utf8').split('\n').slice(-15).join('\n');
        console.log(`# --- ${f}\n${text.replace(/^/gm, '#   ')}`);
      }
      console.log(`not ok - queue: ${name}`);
    }
    for (const c2 of children) try { c2.kill('SIGKILL'); } catch { /* gone */ }
    children.clear();
    for (const f of fs.readdirSync(work).filter((x) => x.endsWith('.log'))) fs.rmSync(path.join(work, f));
  }
}
process.exit(failed ? 1 : 0);
