// Durable output delivery through the real `ratchet serve` (docs/delivery.md "Durability"), on
// SQLite and on the PostgreSQL of RATCHET_TEST_PG_URL: a job whose webhook answers 500 is
// still owed (deliveryStatus PENDING, owned by its node) while the node retries it; the node
// is killed with SIGKILL (or stopped with SIGTERM and a short grace), a new node starts on the
// same database, finds the owner gone (its heartbeat lapsed, or it stopped), adopts the job
// and delivers what is missing: the receiver gets the envelope once it answers 200, with the
// same deliveryId as the dead node's attempts, and the job shows deliveryStatus DONE. The
// lease is 1 s and the heartbeat 200 ms, so a dead node is gone after 2 s. Every wait is a
// bounded poll.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backends, freshDatabase, sanitizerProblems, startServer } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';

const slow = process.env.SANITIZE ? 4 : 1;
let failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs * slow;
  for (;;) {
    const last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function api(srv) {
  async function call(method, p, body) {
    const init = { method, headers: {} };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const r = await fetch(`${srv.base}/api/v1${p}`, init);
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  }
  return { get: (p) => call('GET', p), post: (p, b) => call('POST', p, b) };
}

const nodeArgs = (grace) => ['--set', 'server.rate_limit.enabled=false', '--set', 'output.allow_localhost_webhooks=true',
  '--set', 'job_queue.lease_ms=1000', '--set', 'job_queue.heartbeat_ms=200',
  '--set', `job_queue.shutdown_grace_ms=${grace}`];

async function run(backend) {
  const recv = await startReceiver();
  const dir = fs.mkdtempSync(path.join(process.env.RATCHET_TEST_WORK || os.tmpdir(), 'outbox-'));
  const database = freshDatabase(backend, dir);
  const label = (s) => `delivery_recovery[${backend}]: ${s}`;
  const servers = [];
  async function node(grace = 10000) {
    const srv = await startServer({ backend, database, workers: 1, args: nodeArgs(grace) });
    servers.push(srv);
    return srv;
  }
  async function test(name, fn) {
    try {
      await fn();
      console.log(`ok - ${label(name)}`);
    } catch (e) {
      failed++;
      for (const line of String(e.stack || e).split('\n').slice(0, 25)) console.log(`# ${line}`);
      for (const srv of servers) for (const line of srv.log().split('\n').slice(-15)) console.log(`#   ${line}`);
      console.log(`not ok - ${label(name)}`);
    }
  }

  // A completed job whose one webhook (/switch/<key>, answering 500) is being retried by
  // node a: it is owed, pending and owned by a, with at least one failed attempt recorded.
  async function owedJob(a, key) {
    const A = api(a);
    let task = (await A.get('/tasks?name=outbox-echo')).body[0];
    if (!task) {
      const t = await A.post('/tasks', { name: 'outbox-echo', version: '1.0.0', sourceCode: 'function main(input) { return { echoed: input.n }; }' });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      task = t.body;
    }
    const j = await A.post('/jobs', {
      taskId: task.name, input: { n: 7 },
      outputDestinations: [{ type: 'webhook', url: `${recv.base}/switch/${key}`, retryPolicy: { maxAttempts: 10, initialDelayMs: 300, maxDelayMs: 300 } }],
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    await until('a failed attempt recorded', async () => (await A.get(`/deliveries?jobId=${j.body.id}`)).body.length > 0);
    const job = (await A.get(`/jobs/${j.body.id}`)).body;
    assert.equal(job.status, 'COMPLETED');
    assert.equal(job.deliveryStatus, 'PENDING', 'a completed job with a delivery still going is owed');
    return job;
  }

  // Node b adopts job (owed by a node that is gone) and delivers it; checks what everyone saw.
  async function adoptedAndDelivered(b, job, key, deadOwner) {
    const B = api(b);
    const done = await until('the job delivered by the new node', async () => {
      const j = (await B.get(`/jobs/${job.id}`)).body;
      return j.deliveryStatus === 'DONE' && j;
    });
    assert.notEqual(done.deliveryOwner, deadOwner, 'the new node adopted it');
    const nodes = (await B.get('/nodes')).body;
    assert.ok(nodes.some((n) => n.nodeId === done.deliveryOwner && n.alive), 'owned by a live node');
    const recs = (await B.get(`/deliveries?jobId=${job.id}&_sort=id`)).body;
    const ok = recs.filter((r) => r.success);
    assert.equal(ok.length, 1, JSON.stringify(recs));
    assert.equal(ok[0].statusCode, 200);
    assert.ok(recs.some((r) => !r.success), 'the dead node\'s failed attempts are kept');
    assert.ok(ok[0].attempt > Math.max(...recs.filter((r) => !r.success).map((r) => r.attempt)), 'attempt numbers continue');
    const reqs = await recv.requests(`/switch/${key}`);
    const last = reqs[reqs.length - 1];
    const env = JSON.parse(last.body);
    assert.equal(env.event, 'job.completed');
    assert.equal(env.jobId, job.id, 'receivers dedupe by jobId / executionId');
    assert.equal(env.executionId, job.executionId);
    assert.deepEqual(env.output, { echoed: 7 });
    assert.equal(last.headers['x-ratchet-delivery'], reqs[0].headers['x-ratchet-delivery'], 'the same deliveryId as the dead node\'s attempts');
    assert.equal(env.deliveryId, reqs[0].headers['x-ratchet-delivery']);
    assert.equal(recs.filter((r) => r.responseInfo?.deliveryId && r.responseInfo.deliveryId !== env.deliveryId).length, 0);
  }

  await test('SIGKILL while a webhook retries: another node adopts and delivers it', async () => {
    const a = await node();
    const job = await owedJob(a, `kill-${backend}`);
    const owner = job.deliveryOwner;
    assert.ok(owner, 'owned by the node that completed it');
    await a.stop('SIGKILL');
    await recv.answer(`kill-${backend}`, 200);
    const b = await node();
    await adoptedAndDelivered(b, job, `kill-${backend}`, owner);
    // a job without destinations owes nothing
    const B = api(b);
    const plain = await B.post('/jobs', { taskId: 'outbox-echo', input: { n: 1 } });
    const pj = await until('a job without destinations', async () => {
      const j = (await B.get(`/jobs/${plain.body.id}`)).body;
      return j.status === 'COMPLETED' && j;
    });
    assert.equal(pj.deliveryStatus, null);
    const pending = (await B.get('/jobs?deliveryStatus=PENDING')).body;
    assert.deepEqual(pending.map((j) => j.id), []);
    await b.stop();
  });

  await test('a drain that ends with a delivery still retrying leaves it to the next node', async () => {
    const a = await node(300);
    const job = await owedJob(a, `drain-${backend}`);
    const owner = job.deliveryOwner;
    const r = await a.stop('SIGTERM');
    assert.equal(r.code, 0, a.log());
    assert.match(a.log(), /deliveries still pending/);
    await recv.answer(`drain-${backend}`, 200);
    const b = await node();
    await adoptedAndDelivered(b, job, `drain-${backend}`, owner);
    await b.stop();
  });

  for (const srv of servers) {
    await srv.stop();
    if (sanitizerProblems(srv.log())) {
      failed++;
      console.log(`not ok - ${label('sanitizer report in a node log')}`);
      for (const line of srv.log().split('\n').slice(-40)) console.log(`#   ${line}`);
    }
  }
  recv.stop();
  if (!failed) fs.rmSync(dir, { recursive: true, force: true });
}

for (const b of backends()) await run(b);
process.exit(failed ? 1 : 0);
