// Schedule -> job -> output delivery end to end, through the real `ratchet serve` (its
// scheduler, dispatcher, workers and delivery), on SQLite and on the PostgreSQL of
// RATCHET_TEST_PG_URL: a task created over REST, schedules triggered by hand and firing on
// their own, webhooks to tests/helpers/webhook_receiver.mjs on 127.0.0.1 (which verifies the
// X-Ratchet-Signature), a failing webhook retried and recorded, a retry by hand, file
// destinations under output.file_base_dir and `..` refused at create time. Every answer of
// the API is also checked against the server's OpenAPI document. Every wait is a bounded poll.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { backends, sanitizerProblems, startServer } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { openapiChecker } from './lib/openapi.mjs';

const slow = process.env.SANITIZE ? 4 : 1;
const SECRET = 'e2e-secret';
let failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs * slow;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function client(srv, check) {
  async function call(method, p, body) {
    const init = { method, headers: {} };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const r = await fetch(`${srv.base}/api/v1${p}`, init);
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (json !== undefined) {
      const problems = check(method, new URL(`${srv.base}/api/v1${p}`).pathname, r.status, json);
      assert.deepEqual(problems, [], `${method} ${p} (${r.status}) does not match the OpenAPI document`);
    }
    return { status: r.status, body: json, headers: r.headers };
  }
  return {
    get: (p) => call('GET', p),
    post: (p, b) => call('POST', p, b),
    patch: (p, b) => call('PATCH', p, b),
  };
}

async function run(backend) {
  const recv = await startReceiver(SECRET);
  const srv = await startServer({
    backend,
    workers: 1,
    args: ['--set', 'server.rate_limit.enabled=false', '--set', 'output.allow_localhost_webhooks=true',
      '--set', 'job_queue.shutdown_grace_ms=10000'],
  });
  const doc = await (await fetch(`${srv.base}/api/v1/openapi.json`)).json();
  const api = client(srv, openapiChecker(doc));
  const label = (s) => `pipeline[${backend}]: ${s}`;
  async function test(name, fn) {
    try {
      await fn();
      console.log(`ok - ${label(name)}`);
    } catch (e) {
      failed++;
      for (const line of String(e.stack || e).split('\n').slice(0, 25)) console.log(`# ${line}`);
      for (const line of srv.log().split('\n').slice(-25)) console.log(`#   ${line}`);
      console.log(`not ok - ${label(name)}`);
    }
  }
  const jobDone = (id) => until(`job ${id} to finish`, async () => {
    const j = (await api.get(`/jobs/${id}`)).body;
    return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(j.status) && j;
  });
  const deliveriesOf = async (id, n, pred = () => true) => until(`${n} delivery records of job ${id}`, async () => {
    const r = await api.get(`/deliveries?jobId=${id}&_sort=id`);
    return r.body.filter(pred).length >= n && r.body;
  });

  let task;
  await test('a task created over REST', async () => {
    const r = await api.post('/tasks', {
      name: 'e2e-double', version: '1.0.0',
      sourceCode: 'function main(input, context) { return { doubled: input.n * 2, jobId: context.jobId }; }',
      inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    task = r.body;
  });

  await test('schedule -> trigger -> job -> signed webhook envelope -> delivery record', async () => {
    const s = await api.post('/schedules', {
      taskId: task.name, name: 'nightly', cronExpression: '0 0 3 * * *', input: { n: 21 },
      outputDestinations: [{ destinationType: 'webhook', webhook: { url: `${recv.base}/ok/e2e`, method: 'POST', timeoutSeconds: 10, signature: { secret: SECRET } } }],
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    assert.match(s.body.nextRun, /T03:00:00\.000Z$/);
    const t = await api.post(`/schedules/${s.body.id}/trigger`);
    assert.equal(t.status, 201, JSON.stringify(t.body));
    // the original's contract: a queued NORMAL job with 3 attempts and the schedule's
    // destinations (the answer is read after the commit: a worker may have taken it already)
    assert.ok(['QUEUED', 'PROCESSING', 'COMPLETED'].includes(t.body.status), t.body.status);
    assert.equal(t.body.priority, 'NORMAL');
    assert.equal(t.body.maxRetries, 3);
    assert.equal(t.body.scheduleId, s.body.id);
    const job = await jobDone(t.body.id);
    assert.equal(job.status, 'COMPLETED');
    assert.deepEqual(job.output, { doubled: 42, jobId: job.uuid });
    const ex = await api.get(`/executions/${job.executionId}`);
    assert.equal(ex.body.status, 'COMPLETED');
    const [req] = await until('the webhook', async () => { const r = await recv.requests('/ok/e2e'); return r.length && r; });
    assert.equal(req.method, 'POST');
    assert.equal(req.sigValid, true, 'the receiver verified X-Ratchet-Signature');
    const env = JSON.parse(req.body);
    assert.equal(env.event, 'job.completed');
    assert.equal(env.jobId, job.id);
    assert.equal(env.jobUuid, job.uuid);
    assert.equal(env.taskId, task.id);
    assert.equal(env.taskName, 'e2e-double');
    assert.equal(env.taskVersion, '1.0.0');
    assert.equal(env.executionId, job.executionId);
    assert.equal(env.scheduleId, s.body.id);
    assert.deepEqual(env.output, job.output);
    assert.ok(env.startedAt && env.completedAt && typeof env.durationMs === 'number');
    assert.equal(req.headers['x-ratchet-delivery'], env.deliveryId);
    const recs = await deliveriesOf(job.id, 1);
    assert.equal(recs.length, 1);
    assert.equal(recs[0].success, true);
    assert.equal(recs[0].statusCode, 200);
    assert.equal(recs[0].destinationType, 'webhook');
    assert.equal(recs[0].attempt, 1);
    assert.equal(recs[0].executionId, job.executionId);
    assert.equal(recs[0].responseInfo.deliveryId, env.deliveryId);
    const one = await api.get(`/deliveries/${recs[0].id}`);
    assert.equal(one.status, 200);
    const viaJob = await api.get(`/jobs/${job.id}/deliveries`);
    assert.deepEqual(viaJob.body.map((d) => d.id), [recs[0].id]);
    assert.equal(viaJob.headers.get('x-total-count'), '1');
    const ok = await api.get(`/deliveries?jobId=${job.id}&success=true&destinationType=webhook`);
    assert.equal(ok.body.length, 1);
  });

  await test('a six-field schedule fires every second on its own, one job per fire time', async () => {
    const s = await api.post('/schedules', { taskId: task.id, name: 'every second', cronExpression: '* * * * * *', input: { n: 1 }, maxExecutions: 3 });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const jobs = await until('3 jobs of the schedule, completed', async () => {
      const r = await api.get(`/jobs?scheduleId=${s.body.id}&_sort=scheduledFor`);
      return r.body.length >= 3 && r.body.every((j) => j.status === 'COMPLETED') && r.body;
    });
    assert.equal(jobs.length, 3);
    const fires = jobs.map((j) => Date.parse(j.scheduledFor));
    assert.equal(new Set(fires).size, 3, 'each fire time made one job');
    for (const f of fires) assert.equal(f % 1000, 0, 'fire times are whole seconds');
    for (const j of jobs) assert.equal(j.metadata.schedule.id, s.body.id);
    const after = await until('the schedule to be exhausted', async () => {
      const r = (await api.get(`/schedules/${s.body.id}`)).body;
      return r.enabled === false && r;
    });
    assert.equal(after.executionCount, 3);
    assert.equal(after.nextRun, null);
  });

  await test('a webhook answering 500 is retried, then delivered; every attempt recorded', async () => {
    const j = await api.post('/jobs', {
      taskId: task.name, input: { n: 5 },
      outputDestinations: [{ type: 'webhook', url: `${recv.base}/flaky/1/500/retry-${backend}`, retryPolicy: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 200 } }],
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const job = await jobDone(j.body.id);
    assert.equal(job.status, 'COMPLETED');
    const recs = await deliveriesOf(job.id, 1, (d) => d.success);
    assert.deepEqual(recs.map((d) => [d.attempt, d.success, d.statusCode]), [[1, false, 500], [2, true, 200]]);
    assert.match(recs[0].errorMessage, /500/);
    const reqs = await recv.requests(`/flaky/1/500/retry-${backend}`);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0].headers['x-ratchet-delivery'], reqs[1].headers['x-ratchet-delivery'], 'one delivery id across retries');
    assert.deepEqual(reqs.map((r) => r.headers['x-ratchet-attempt']), ['1', '2']);
    assert.equal((await api.get(`/jobs/${job.id}`)).body.status, 'COMPLETED', 'a delivery never changes its job');
  });

  await test('POST /deliveries/{id}/retry delivers a failed destination again', async () => {
    const key = `by-hand-${backend}`;
    const j = await api.post('/jobs', {
      taskId: task.name, input: { n: 7 },
      outputDestinations: [{ type: 'webhook', url: `${recv.base}/flaky/1/503/${key}`, retryPolicy: { maxAttempts: 1 } }],
    });
    const job = await jobDone(j.body.id);
    const [failedRec] = await deliveriesOf(job.id, 1);
    assert.equal(failedRec.success, false);
    assert.equal(failedRec.statusCode, 503);
    const r = await api.post(`/deliveries/${failedRec.id}/retry`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.id, failedRec.id);
    const recs = await deliveriesOf(job.id, 1, (d) => d.success);
    assert.deepEqual(recs.map((d) => [d.attempt, d.success]), [[1, false], [2, true]]);
    const reqs = await recv.requests(`/flaky/1/503/${key}`);
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1].headers['x-ratchet-attempt'], '2');
    assert.equal(JSON.parse(reqs[1].body).output.doubled, 14);
    assert.equal((await api.post('/deliveries/999999/retry')).status, 404);
  });

  await test('file destinations are written under output.file_base_dir', async () => {
    const base = path.join(srv.dir, 'output');
    const j = await api.post('/jobs', {
      taskId: task.name, input: { n: 4 },
      outputDestinations: [
        { destinationType: 'filesystem', filesystem: { path: 'e2e/{task_name}/{job_id}.json', format: 'json' } },
        { type: 'file', path: `${base}/abs/{{job_id}}.json`, includeMetadata: true, format: 'json_compact' },
      ],
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    const job = await jobDone(j.body.id);
    const recs = await deliveriesOf(job.id, 2);
    assert.ok(recs.every((d) => d.success && d.destinationType === 'filesystem'), JSON.stringify(recs));
    const rel = path.join(base, 'e2e', 'e2e-double', `${job.id}.json`);
    assert.deepEqual(JSON.parse(fs.readFileSync(rel, 'utf8')), { doubled: 8, jobId: job.uuid });
    const env = JSON.parse(fs.readFileSync(path.join(base, 'abs', `${job.id}.json`), 'utf8'));
    assert.equal(env.jobId, job.id);
    assert.deepEqual(env.output, { doubled: 8, jobId: job.uuid });
  });

  await test('a path escaping with .. is refused at create time, naming the field', async () => {
    const s = await api.post('/schedules', {
      taskId: task.name, name: 'escape', cronExpression: '@daily', input: { n: 1 },
      outputDestinations: [{ type: 'stdout' }, { destinationType: 'filesystem', filesystem: { path: '../../etc/{job_id}.json' } }],
    });
    assert.equal(s.status, 400);
    assert.match(s.body.message, /^outputDestinations\[1\]\.filesystem\.path: "\.\." is not allowed/);
    const j = await api.post('/jobs', { taskId: task.name, input: { n: 1 }, outputDestinations: [{ type: 'file', path: 'a/../../x.json' }] });
    assert.equal(j.status, 400);
    assert.match(j.body.message, /^outputDestinations\[0\]\.path: /);
    const w = await api.post('/schedules', {
      taskId: task.name, name: 'private', cronExpression: '@daily', input: { n: 1 },
      outputDestinations: [{ type: 'webhook', url: 'http://10.0.0.1/hook' }],
    });
    assert.equal(w.status, 400, 'private addresses are refused unless configured');
    assert.match(w.body.message, /^outputDestinations\[0\]\.url: /);
  });

  await test('a schedule change is validated by the scheduler\'s rules and kept in step', async () => {
    const s = await api.post('/schedules', { taskId: task.name, name: 'berlin', cronExpression: '0 30 9 * * *', timezone: 'Europe/Berlin', input: { n: 2 } });
    assert.equal(s.status, 201);
    const bad = await api.patch(`/schedules/${s.body.id}`, { timezone: 'Mars/Olympus' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /^timezone: /);
    const renamed = await api.patch(`/schedules/${s.body.id}`, { name: 'berlin mornings' });
    assert.equal(renamed.body.nextRun, s.body.nextRun, 'a rename keeps nextRun');
    const off = await api.post(`/schedules/${s.body.id}/disable`);
    assert.equal(off.body.nextRun, null);
    const on = await api.post(`/schedules/${s.body.id}/enable`);
    assert.match(on.body.nextRun, /T0[78]:30:00\.000Z$/);
  });

  const exit = await srv.stop();
  recv.stop();
  await test('the server drains and stops cleanly', async () => {
    assert.equal(exit.code, 0, srv.log().split('\n').slice(-20).join('\n'));
    assert.match(srv.log(), /deliveries drained/);
    assert.ok(!sanitizerProblems(srv.log()), 'a sanitizer reported an error');
  });
  if (!failed) srv.cleanup();
}

for (const b of backends()) await run(b);
if (!process.env.RATCHET_TEST_PG_URL) {
  console.log('# RATCHET_TEST_PG_URL is not set (tests/run starts one with scripts/pg-test-server)');
  console.log('not ok - pipeline[postgres]: a PostgreSQL to test against');
  failed++;
}
process.exit(failed ? 1 : 0);
