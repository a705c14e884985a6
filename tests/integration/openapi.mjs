// The OpenAPI 3.1 document the server serves at /api/v1/openapi.json: it passes `redocly lint`
// (strict recommended rules, @redocly/cli pinned in tests/package.json), every schema in it
// compiles, operation ids are unique, the router agrees with it (each documented method is in
// the Allow answer of its path), and /docs renders it with a script its CSP allows by hash.
// That real answers match the documented schemas is checked by rest.mjs on every case.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { root, sanitizerProblems, startServer } from './lib/server.mjs';

let failed = 0;
async function test(label, fn) {
  try {
    await fn();
    console.log(`ok - openapi: ${label}`);
  } catch (e) {
    failed++;
    for (const line of String(e.stack || e).split('\n').slice(0, 15)) console.log(`# ${line}`);
    console.log(`not ok - openapi: ${label}`);
  }
}

const srv = await startServer({ args: ['--set', 'server.rate_limit.enabled=false'] });
const res = await fetch(`${srv.base}/api/v1/openapi.json`);
const text = await res.text();
const doc = JSON.parse(text);
const file = path.join(srv.dir, 'openapi.json');
fs.writeFileSync(file, text);

await test('redocly lint passes (recommended-strict)', async () => {
  const r = spawnSync(path.join(root, 'tests/node_modules/.bin/redocly'), ['lint', '--config', path.join(root, 'tests/redocly.yaml'), '--format', 'stylish', file],
    { encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' }, timeout: 120000 });
  const out = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() && !/[║╔╚]/.test(l)).join('\n');
  assert.equal(r.status, 0, out);
  assert.match(out, /valid/, out);
  assert.doesNotMatch(out, /warning/, out);
});

await test('it is OpenAPI 3.1 with every route of the server', async () => {
  assert.equal(doc.openapi, '3.1.0');
  for (const p of ['/api/v1/tasks', '/api/v1/tasks/{id}/execute', '/api/v1/jobs/bulk', '/api/v1/schedules/{id}/trigger',
    '/api/v1/executions/{id}/logs', '/api/v1/workers', '/api/v1/api-keys', '/health', '/ready', '/live', '/metrics', '/docs', '/']) {
    assert.ok(doc.paths[p], `${p} is documented`);
  }
});

await test('operation ids are unique and every operation names its role', async () => {
  const seen = new Set();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      assert.ok(!seen.has(op.operationId), `duplicate ${op.operationId}`);
      seen.add(op.operationId);
      assert.ok(['none', 'viewer', 'operator', 'admin'].includes(op['x-ratchet-role']), `${m} ${p} role`);
    }
  }
  assert.ok(seen.size > 50, `${seen.size} operations`);
});

await test('every component schema compiles (JSON Schema 2020-12)', async () => {
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: 'https://ratchet.local/openapi.json' });
  for (const name of Object.keys(doc.components.schemas)) ajv.compile({ $ref: `https://ratchet.local/openapi.json#/components/schemas/${name}` });
});

await test('list operations document paging, sorting, filters and the list headers', async () => {
  const op = doc.paths['/api/v1/jobs'].get;
  const names = op.parameters.map((p) => p.name || p.$ref.split('/').pop());
  for (const n of ['start', 'end', 'page', 'limit', 'order', 'q', '_sort', 'filters']) assert.ok(names.includes(n), n);
  const filters = op.parameters.find((p) => p.name === 'filters');
  for (const f of ['status', 'status_ne', 'priority_gte', 'taskId_in', 'errorMessage_like']) assert.ok(filters.schema.properties[f], f);
  assert.ok(op.responses['200'].headers['X-Total-Count']);
  assert.ok(op.responses['200'].headers['Content-Range']);
});

await test('the router agrees: each documented method is allowed on its path', async () => {
  for (const [p, item] of Object.entries(doc.paths)) {
    const url = srv.base + p.replace(/\{[^}]+\}/g, 'x');
    const r = await fetch(url, { method: 'OPTIONS' });
    const allow = (r.headers.get('allow') || '').split(/,\s*/);
    for (const m of Object.keys(item)) assert.ok(allow.includes(m.toUpperCase()), `${m.toUpperCase()} ${p}: Allow is ${allow}`);
  }
});

await test('/docs renders the document with a script its CSP allows by hash', async () => {
  const r = await fetch(`${srv.base}/docs`);
  assert.equal(r.status, 200);
  const html = await r.text();
  const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
  const hash = crypto.createHash('sha256').update(script).digest('base64');
  assert.ok(r.headers.get('content-security-policy').includes(`'sha256-${hash}'`), r.headers.get('content-security-policy'));
  assert.match(script, /\/api\/v1\/openapi\.json/);
  assert.doesNotMatch(html, /https?:\/\/(?!json-schema)/, 'nothing is loaded from elsewhere');
});

await test('the /docs script renders every operation and schema (on a minimal DOM)', async () => {
  const html = await (await fetch(`${srv.base}/docs`)).text();
  const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
  // Just enough of the DOM for the page: elements with children, attributes and text.
  class Node {
    constructor(tag) { this.tag = tag; this.children = []; this.attrs = {}; this._text = ''; }
    appendChild(c) {
      if (c.parent) c.parent.children = c.parent.children.filter((x) => x !== c);
      c.parent = this;
      this.children.push(c);
      return c;
    }
    setAttribute(k, v) { this.attrs[k] = String(v); }
    get firstChild() { return this.children[0] || null; }
    set textContent(t) { this.children = []; this._text = String(t); }
    get textContent() { return this._text + this.children.map((c) => c.textContent).join(''); }
  }
  const byId = { main: new Node('main'), nav: new Node('nav'), error: new Node('p') };
  const document = {
    createElement: (t) => new Node(t),
    createTextNode: (t) => { const n = new Node('#text'); n._text = String(t); return n; },
    getElementById: (id) => byId[id],
  };
  let done;
  const finished = new Promise((r) => { done = r; });
  const fakeFetch = async () => ({ ok: true, json: async () => doc });
  new Function('document', 'fetch', script)(document, (...a) => { setTimeout(done, 50); return fakeFetch(...a); });
  await finished;
  const text = byId.main.textContent;
  assert.doesNotMatch(byId.error.textContent, /Cannot load/);
  const count = (n) => (n.tag === 'section' ? 1 : 0) + n.children.reduce((a, c) => a + count(c), 0);
  const ops = Object.values(doc.paths).reduce((a, item) => a + Object.keys(item).length, 0);
  assert.equal(count(byId.main), ops + Object.keys(doc.components.schemas).length);
  assert.match(text, /\/api\/v1\/tasks\/\{id\}\/execute/);
  assert.match(text, /role: operator/);
});

const exit = await srv.stop();
await test('the server stops cleanly', async () => {
  assert.equal(exit.code, 0);
  assert.ok(!sanitizerProblems(srv.log()));
});
if (!failed) srv.cleanup();
process.exit(failed ? 1 : 0);
