// The stock Refine data provider (@refinedev/simple-rest, pinned in tests/package.json)
// against the real server, unmodified: getList with pagination, sorting and filters, getOne,
// getMany, create, update and deleteOne on tasks, jobs and schedules, asserting what a Refine
// UI would show (rows, totals, error messages).
import assert from 'node:assert/strict';
import dataProviderModule from '@refinedev/simple-rest';
import { backends, sanitizerProblems, startServer } from './lib/server.mjs';

const dataProvider = dataProviderModule.default || dataProviderModule;
let failed = 0;

async function test(label, fn) {
  try {
    await fn();
    console.log(`ok - ${label}`);
  } catch (e) {
    failed++;
    for (const line of String(e.stack || e).split('\n').slice(0, 12)) console.log(`# ${line}`);
    console.log(`not ok - ${label}`);
  }
}

async function run(backend) {
  const srv = await startServer({ backend, args: ['--set', 'server.rate_limit.enabled=false'] });
  const dp = dataProvider(`${srv.base}/api/v1`);
  const L = (name) => `refine[${backend}]: ${name}`;

  await test(L('getList pages with _start/_end and reads X-Total-Count'), async () => {
    const r = await dp.getList({ resource: 'tasks', pagination: { currentPage: 2, pageSize: 3 }, sorters: [{ field: 'name', order: 'asc' }] });
    assert.equal(r.total, 7);
    assert.deepEqual(r.data.map((t) => t.name), ['echo', 'fails', 'hello-context']);
  });
  await test(L('getList sorts descending on several fields'), async () => {
    const r = await dp.getList({ resource: 'tasks', pagination: { currentPage: 1, pageSize: 2 }, sorters: [{ field: 'enabled', order: 'desc' }, { field: 'name', order: 'desc' }] });
    assert.deepEqual(r.data.map((t) => t.name), ['spin', 'hello-context']);
  });
  await test(L('getList filters with contains, eq, ne, gte and lte'), async () => {
    let r = await dp.getList({ resource: 'tasks', filters: [{ field: 'name', operator: 'contains', value: 'ECH' }] });
    assert.deepEqual(r.data.map((t) => t.name), ['echo']);
    assert.equal(r.total, 1);
    r = await dp.getList({ resource: 'tasks', filters: [{ field: 'name', operator: 'ne', value: 'echo' }, { field: 'id', operator: 'gte', value: 2 }, { field: 'id', operator: 'lte', value: 3 }] });
    assert.deepEqual(r.data.map((t) => t.id), [2, 3]);
    r = await dp.getList({ resource: 'tasks', filters: [{ field: 'name', operator: 'eq', value: 'spin' }] });
    assert.equal(r.data[0].name, 'spin');
  });
  await test(L('getList with an "in" filter and q'), async () => {
    let r = await dp.getList({ resource: 'tasks', filters: [{ field: 'name', operator: 'in', value: ['echo', 'spin'] }], sorters: [{ field: 'name', order: 'asc' }] });
    assert.deepEqual(r.data.map((t) => t.name), ['echo', 'spin']);
    r = await dp.getList({ resource: 'tasks', filters: [{ field: 'q', operator: 'eq', value: 'adds two' }] });
    assert.deepEqual(r.data.map((t) => t.name), ['addition']);
  });
  await test(L('getList without pagination gets everything'), async () => {
    const r = await dp.getList({ resource: 'tasks', pagination: { mode: 'off' } });
    assert.equal(r.data.length, 7);
    assert.equal(r.total, 7);
  });
  await test(L('getOne by id and by name'), async () => {
    assert.equal((await dp.getOne({ resource: 'tasks', id: 1 })).data.name, 'addition');
    assert.equal((await dp.getOne({ resource: 'tasks', id: 'echo' })).data.id, 4);
  });
  await test(L('getMany sends repeated id= and gets those rows'), async () => {
    const r = await dp.getMany({ resource: 'tasks', ids: [1, 4, 7] });
    assert.deepEqual(r.data.map((t) => t.id).sort(), [1, 4, 7]);
  });
  let taskId;
  await test(L('create a task; the answer is the bare row'), async () => {
    const r = await dp.create({ resource: 'tasks', variables: { name: 'refined', sourceCode: '(input) => ({ ok: true, input })', description: 'from Refine' } });
    assert.equal(r.data.name, 'refined');
    assert.equal(r.data.version, '1.0.0');
    taskId = r.data.id;
  });
  await test(L('update it (PATCH) and see the new version'), async () => {
    const r = await dp.update({ resource: 'tasks', id: taskId, variables: { sourceCode: '(input) => ({ ok: 2 })' } });
    assert.equal(r.data.version, '1.0.1');
    assert.equal(r.data.id, taskId);
  });
  await test(L('a failed create shows the server message (Refine HttpError)'), async () => {
    await assert.rejects(dp.create({ resource: 'tasks', variables: { name: 'refined', sourceCode: '1' } }), (e) => {
      assert.equal(e.statusCode, 409);
      assert.equal(e.message, 'a task named "refined" already exists');
      return true;
    });
  });
  await test(L('a bad filter shows a 400 message naming it'), async () => {
    await assert.rejects(dp.getList({ resource: 'tasks', filters: [{ field: 'colour', operator: 'eq', value: 'red' }] }), (e) => {
      assert.equal(e.statusCode, 400);
      assert.match(e.message, /unknown query parameter "colour"/);
      return true;
    });
  });
  let jobId;
  await test(L('create a job and list it by status'), async () => {
    const r = await dp.create({ resource: 'jobs', variables: { taskId: 'echo', input: { hello: 'refine' }, scheduledFor: '2999-01-01T00:00:00Z', priority: 'HIGH' } });
    jobId = r.data.id;
    assert.equal(r.data.status, 'QUEUED');
    const l = await dp.getList({ resource: 'jobs', filters: [{ field: 'status', operator: 'eq', value: 'QUEUED' }, { field: 'priority', operator: 'eq', value: 'HIGH' }] });
    assert.equal(l.total, 1);
    assert.deepEqual(l.data[0].input, { hello: 'refine' });
  });
  await test(L('a custom call cancels it'), async () => {
    const r = await dp.custom({ url: `${srv.base}/api/v1/jobs/${jobId}/cancel`, method: 'post', payload: {} });
    assert.equal(r.data.status, 'CANCELLED');
  });
  let scheduleId;
  await test(L('create, update and delete a schedule'), async () => {
    const c = await dp.create({ resource: 'schedules', variables: { taskId: 'echo', name: 'nightly', cronExpression: '0 3 * * *' } });
    scheduleId = c.data.id;
    assert.match(c.data.nextRun, /T03:00:00\.000Z$/);
    const u = await dp.update({ resource: 'schedules', id: scheduleId, variables: { cronExpression: '0 4 * * *' } });
    assert.match(u.data.nextRun, /T04:00:00\.000Z$/);
    const d = await dp.deleteOne({ resource: 'schedules', id: scheduleId });
    assert.equal(d.data, ''); /* 204: Refine only needs the call to succeed */
    await assert.rejects(dp.getOne({ resource: 'schedules', id: scheduleId }), (e) => e.statusCode === 404);
  });
  await test(L('deleteOne a task'), async () => {
    await dp.deleteOne({ resource: 'tasks', id: taskId });
    const l = await dp.getList({ resource: 'tasks' });
    assert.equal(l.total, 7);
  });
  await test(L('getList on executions, workers and nodes answers arrays'), async () => {
    for (const resource of ['executions', 'workers', 'nodes', 'schedules']) {
      const r = await dp.getList({ resource, pagination: { currentPage: 1, pageSize: 10 } });
      assert.ok(Array.isArray(r.data), resource);
    }
  });
  const exit = await srv.stop();
  await test(L('the server stops cleanly'), async () => {
    const tail = srv.log().split('\n').slice(-40).join('\n');
    assert.equal(exit.code, 0, `exit ${exit.code ?? exit.signal}\n${tail}`);
    assert.ok(!sanitizerProblems(srv.log()), `a sanitizer reported an error\n${tail}`);
  });
  if (!failed) srv.cleanup(); else console.log(`# server dir kept: ${srv.dir}`);
}

for (const b of backends()) await run(b);
process.exit(failed ? 1 : 0);
