// The task author's loop end to end, against the real binary: report formats (JSON parsed,
// JUnit parsed by a real XML parser), recording a run that makes real requests to a local
// server, the HAR checked against the HAR 1.2 field list, replay offline (server stopped) and
// --live, bad recordings, generate -> validate -> test, and test --watch with SIGINT/SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const root = process.env.RATCHET_ROOT || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const bin = process.env.RATCHET_BIN || path.join(root, 'build/ratchet');
const data = path.join(root, 'tests/data');
const work = fs.mkdtempSync(path.join(process.env.RATCHET_TEST_WORK || os.tmpdir(), 'devflow-'));
const sanitized = !!process.env.SANITIZE;
const WAIT_MS = sanitized ? 90000 : 30000;

let failed = 0;
async function check(name, fn) {
  const problems = [];
  try {
    await fn(problems);
  } catch (e) {
    problems.push(`threw: ${e.stack || e}`);
  }
  if (problems.length === 0) {
    console.log(`ok - devflow: ${name}`);
    return;
  }
  failed++;
  for (const p of problems) console.log(`# ${String(p).split('\n').join('\n# ')}`);
  console.log(`not ok - devflow: ${name}`);
}

// Runs the binary without blocking this process's event loop (the test server lives here).
function run(args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: opts.cwd || root, env: { ...process.env, ...(opts.env || {}) } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function expectExit(problems, res, code, what) {
  if (/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(res.stderr)) problems.push(`${what}: a sanitizer reported an error:\n${res.stderr.slice(0, 3000)}`);
  if (res.status !== code) {
    problems.push(`${what}: exit ${res.status} (signal ${res.signal}), expected ${code}`);
    problems.push(`stdout: ${res.stdout.slice(0, 1500)}`);
    problems.push(`stderr: ${res.stderr.slice(0, 1500)}`);
    return false;
  }
  return true;
}

function expectIncludes(problems, text, needle, what) {
  if (!text.includes(needle)) problems.push(`${what} lacks ${JSON.stringify(needle)}: ${text.slice(0, 1500)}`);
}

function parseJson(problems, text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`${what} is not JSON (${e.message}): ${text.slice(0, 500)}`);
    return null;
  }
}

function copyDir(from, to) {
  fs.cpSync(from, to, { recursive: true });
  return to;
}

// ---------------------------------------------------------------- HAR 1.2 structure checker
// Written from the HAR 1.2 field list: each object's required fields and their types. A HAR
// viewer needs these; custom fields must start with "_".
const STR = 'string', NUM = 'number', OBJ = 'object', ARR = 'array', BOOL = 'boolean';
const HAR = {
  log: { req: { version: STR, creator: OBJ, entries: ARR }, opt: { browser: OBJ, pages: ARR, comment: STR } },
  creator: { req: { name: STR, version: STR }, opt: { comment: STR } },
  entry: { req: { startedDateTime: STR, time: NUM, request: OBJ, response: OBJ, cache: OBJ, timings: OBJ }, opt: { pageref: STR, serverIPAddress: STR, connection: STR, comment: STR } },
  request: { req: { method: STR, url: STR, httpVersion: STR, cookies: ARR, headers: ARR, queryString: ARR, headersSize: NUM, bodySize: NUM }, opt: { postData: OBJ, comment: STR } },
  response: { req: { status: NUM, statusText: STR, httpVersion: STR, cookies: ARR, headers: ARR, content: OBJ, redirectURL: STR, headersSize: NUM, bodySize: NUM }, opt: { comment: STR } },
  nv: { req: { name: STR, value: STR }, opt: { comment: STR } },
  cookie: { req: { name: STR, value: STR }, opt: { path: STR, domain: STR, expires: STR, httpOnly: BOOL, secure: BOOL, comment: STR } },
  postData: { req: { mimeType: STR }, opt: { params: ARR, text: STR, comment: STR } },
  content: { req: { size: NUM, mimeType: STR }, opt: { compression: NUM, text: STR, encoding: STR, comment: STR } },
  timings: { req: { send: NUM, wait: NUM, receive: NUM }, opt: { blocked: NUM, dns: NUM, connect: NUM, ssl: NUM, comment: STR } },
  cache: { req: {}, opt: { beforeRequest: OBJ, afterRequest: OBJ, comment: STR } },
};
const typeOf = (v) => (Array.isArray(v) ? ARR : v === null ? 'null' : typeof v);

function checkShape(obj, kind, where, out) {
  if (typeOf(obj) !== OBJ) return out.push(`${where}: not an object`);
  const spec = HAR[kind];
  for (const [k, t] of Object.entries(spec.req)) {
    if (!(k in obj)) out.push(`${where}: required "${k}" is missing`);
    else if (typeOf(obj[k]) !== t) out.push(`${where}.${k}: ${typeOf(obj[k])}, not ${t}`);
  }
  for (const [k, v] of Object.entries(obj)) {
    if (k in spec.req || k.startsWith('_')) continue;
    if (!(k in spec.opt)) out.push(`${where}: "${k}" is not a HAR 1.2 field (custom fields start with _)`);
    else if (typeOf(v) !== spec.opt[k] && v !== null) out.push(`${where}.${k}: ${typeOf(v)}, not ${spec.opt[k]}`);
  }
}

function checkHar(har) {
  const out = [];
  if (typeOf(har) !== OBJ || typeOf(har.log) !== OBJ) return ['no "log" object'];
  const log = har.log;
  checkShape(log, 'log', 'log', out);
  if (log.version !== '1.2') out.push(`log.version is ${JSON.stringify(log.version)}`);
  checkShape(log.creator, 'creator', 'log.creator', out);
  (log.entries || []).forEach((e, i) => {
    const w = `log.entries[${i}]`;
    checkShape(e, 'entry', w, out);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(e.startedDateTime) || isNaN(Date.parse(e.startedDateTime)))
      out.push(`${w}.startedDateTime is not ISO 8601: ${e.startedDateTime}`);
    checkShape(e.request, 'request', `${w}.request`, out);
    checkShape(e.response, 'response', `${w}.response`, out);
    checkShape(e.cache, 'cache', `${w}.cache`, out);
    checkShape(e.timings, 'timings', `${w}.timings`, out);
    for (const k of ['cookies', 'headers', 'queryString']) (e.request[k] || []).forEach((x, j) => checkShape(x, k === 'cookies' ? 'cookie' : 'nv', `${w}.request.${k}[${j}]`, out));
    for (const k of ['cookies', 'headers']) (e.response[k] || []).forEach((x, j) => checkShape(x, k === 'cookies' ? 'cookie' : 'nv', `${w}.response.${k}[${j}]`, out));
    if (e.request.postData) {
      checkShape(e.request.postData, 'postData', `${w}.request.postData`, out);
      const pd = e.request.postData;
      const bytes = pd._encoding === 'base64' ? Buffer.from(pd.text, 'base64') : Buffer.from(pd.text || '', 'utf8');
      if (e.request.bodySize >= 0 && bytes.length !== e.request.bodySize) out.push(`${w}.request.bodySize ${e.request.bodySize} != postData length ${bytes.length}`);
    }
    checkShape(e.response.content, 'content', `${w}.response.content`, out);
    const c = e.response.content;
    if (typeof c.text === 'string') {
      const bytes = c.encoding === 'base64' ? Buffer.from(c.text, 'base64') : Buffer.from(c.text, 'utf8');
      if (bytes.length !== c.size) out.push(`${w}.response.content.size ${c.size} != text length ${bytes.length}`);
    }
    const t = e.timings;
    for (const k of ['send', 'wait', 'receive']) if (!(t[k] >= 0)) out.push(`${w}.timings.${k} is negative`);
    for (const k of ['blocked', 'dns', 'connect', 'ssl']) if (k in t && !(t[k] >= -1)) out.push(`${w}.timings.${k} < -1`);
    const sum = ['blocked', 'dns', 'connect', 'send', 'wait', 'receive'].reduce((s, k) => s + (t[k] > 0 ? t[k] : 0), 0);
    if (Math.abs(sum - e.time) > 0.01) out.push(`${w}.time ${e.time} != sum of timings ${sum}`);
  });
  return out;
}

// ---------------------------------------------------------------- a local HTTP server
let hits = 0;
function startServer(port = 0) {
  const server = http.createServer((req, res) => {
    hits++;
    let body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      body = Buffer.concat(body).toString('utf8');
      const url = new URL(req.url, 'http://x');
      if (req.method === 'GET' && url.pathname === '/users') {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ users: ['ada', 'bob'], q: url.searchParams.get('q') }));
      } else if (req.method === 'POST' && url.pathname === '/items') {
        res.writeHead(201, { 'Content-Type': 'application/json', 'Set-Cookie': 'sid=abc123; Path=/; HttpOnly' });
        res.end(JSON.stringify({ id: 9, ...JSON.parse(body) }));
      } else if (url.pathname === '/binary') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.end(Buffer.from([0, 255, 254, 128, 1, 2]));
      } else if (req.method === 'POST' && url.pathname === '/form') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`got ${body}`);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const stopServer = (s) => new Promise((r) => { s.closeAllConnections(); s.close(r); });

function sessionDir(problems, stderr, parent) {
  const m = /recorded to (\S+)/.exec(stderr);
  if (!m) {
    problems.push(`no "recorded to" on stderr: ${stderr}`);
    return null;
  }
  const dir = m[1];
  if (path.dirname(dir) !== parent) problems.push(`recording ${dir} is not under ${parent}`);
  if (!/^ratchet_session_\d{8}_\d{6}_\d{3}(_\d+)?$/.test(path.basename(dir))) problems.push(`unexpected folder name ${path.basename(dir)}`);
  return dir;
}

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const writeJson = (f, v) => fs.writeFileSync(f, JSON.stringify(v, null, 2));

// ---------------------------------------------------------------- report formats
await check('--format json: the report of failing tests, with their diff lines', async (problems) => {
  const res = await run(['test', '--from-fs', path.join(data, 'devflow/failures'), '--format', 'json']);
  if (!expectExit(problems, res, 1, 'test --format json')) return;
  const r = parseJson(problems, res.stdout, 'stdout');
  if (!r) return;
  if (r.task?.name !== 'devflow-failures' || r.task?.version !== '1.0.0') problems.push(`task: ${JSON.stringify(r.task)}`);
  if (!isDeepStrictEqual({ total: r.totals?.total, passed: r.totals?.passed, failed: r.totals?.failed }, { total: 10, passed: 0, failed: 10 })) problems.push(`totals: ${JSON.stringify(r.totals)}`);
  if (typeof r.totals?.durationMs !== 'number' || isNaN(Date.parse(r.startedAt))) problems.push('durationMs/startedAt missing');
  const files = r.tests.map((t) => t.file);
  if (!isDeepStrictEqual(files, [...files].sort())) problems.push(`not in file-name order: ${files}`);
  for (const t of r.tests) {
    if (t.status !== 'failed' || typeof t.name !== 'string' || typeof t.durationMs !== 'number' || typeof t.error !== 'string' || !Array.isArray(t.requests))
      problems.push(`test entry shape: ${JSON.stringify(t).slice(0, 300)}`);
  }
  const by = Object.fromEntries(r.tests.map((t) => [t.file, t]));
  const t1 = by['test-001-wrong-output.json'];
  if (!isDeepStrictEqual(t1?.diff, ['/sum: expected 42, got 10', '/label: missing (expected "x")', '/op: unexpected "add"'])) problems.push(`test-001 diff: ${JSON.stringify(t1?.diff)}`);
  if (!isDeepStrictEqual(t1?.expected, { sum: 42, label: 'x' }) || !isDeepStrictEqual(t1?.actual, { sum: 10, op: 'add' })) problems.push('test-001 expected/actual');
  if (t1?.error !== 'output differs from expected_output (3 differences)') problems.push(`test-001 error: ${t1?.error}`);
  if (!isDeepStrictEqual(by['test-002-subset-mismatch.json']?.diff, ['/user/name: expected "Bob", got "Ada"'])) problems.push('test-002 subset diff');
  if (!/expected the task to fail \(expected_error\), but it succeeded/.test(by['test-003-error-expected-but-succeeded.json']?.error)) problems.push('test-003 error');
  if (by['test-004-wrong-error.json']?.error !== 'expected an error containing "something else", got ValidationError: bad op: x') problems.push(`test-004: ${by['test-004-wrong-error.json']?.error}`);
  const t5 = by['test-005-unexpected-failure.json'];
  if (t5?.error !== 'the task failed: ValidationError: bad op: y' || t5?.runError?.type !== 'ValidationError' || !/main\.js:\d+:\d+/.test(t5?.runError?.stack || '')) problems.push(`test-005: ${JSON.stringify(t5)}`);
  if (!isDeepStrictEqual(by['test-006-assertion-fails.json']?.diff, ['assertions[0] user.id: expected 8, got 7', 'assertions[1] user.missing: expected 1, got nothing (no value at that path)'])) problems.push(`test-006 diff ${JSON.stringify(by['test-006-assertion-fails.json']?.diff)}`);
  if (!/expected HTTP status 404, got 503/.test(by['test-007-wrong-status.json']?.error)) problems.push('test-007 status');
  if (!/should_fail/.test(by['test-008-should-fail-but-succeeded.json']?.error)) problems.push('test-008');
  const logs = by['test-009-logs-on-failure.json']?.logs || [];
  if (!isDeepStrictEqual(logs.map((l) => [l.level, l.text]), [['info', 'hello from the task'], ['warn', 'careful <now> & then']]) || logs.some((l) => isNaN(Date.parse(l.time)))) problems.push(`test-009 logs: ${JSON.stringify(logs)}`);
});

await check('--format json: every key and dialect passes', async (problems) => {
  const res = await run(['test', '--from-fs', path.join(data, 'devflow/keys'), '--format', 'json']);
  if (!expectExit(problems, res, 0, 'test')) return;
  const r = parseJson(problems, res.stdout, 'stdout');
  if (!r) return;
  if (r.totals.total !== 13 || r.totals.passed !== 13) problems.push(`totals ${JSON.stringify(r.totals)}`);
  for (const t of r.tests) if (t.status !== 'passed' || 'error' in t) problems.push(`${t.file}: ${JSON.stringify(t)}`);
  const t12 = r.tests.find((t) => t.file === 'test-012-timeout-and-tags.json');
  if (t12?.logs?.length !== 2) problems.push('passing tests keep their console lines in the JSON report');
});

// Parses JUnit XML with Python's XML parser (a real one) into JSON.
function parseJunit(xml) {
  const py = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
def el(e): return {"tag": e.tag, "attrib": e.attrib, "text": e.text or "", "children": [el(c) for c in e]}
print(json.dumps(el(root)))`;
  const res = spawnSync('python3', ['-c', py], { input: xml, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`the XML does not parse: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

await check('--format junit: valid JUnit XML, escaped, with failures', async (problems) => {
  const res = await run(['test', '--from-fs', path.join(data, 'devflow/failures'), '--format', 'junit']);
  if (!expectExit(problems, res, 1, 'test --format junit')) return;
  if (!res.stdout.startsWith('<?xml version="1.0" encoding="UTF-8"?>')) problems.push('no XML declaration');
  const doc = parseJunit(res.stdout);
  if (doc.tag !== 'testsuites' || doc.attrib.tests !== '10' || doc.attrib.failures !== '10') problems.push(`testsuites: ${JSON.stringify(doc.attrib)}`);
  const suite = doc.children[0];
  if (suite?.tag !== 'testsuite' || suite.attrib.name !== 'devflow-failures' || suite.attrib.tests !== '10' || suite.attrib.failures !== '10' || suite.attrib.errors !== '0' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(suite.attrib.timestamp) || !suite.attrib.hostname)
    problems.push(`testsuite: ${JSON.stringify(suite?.attrib)}`);
  const cases = suite.children.filter((c) => c.tag === 'testcase');
  if (cases.length !== 10) problems.push(`${cases.length} testcases`);
  for (const c of cases) {
    if (!c.attrib.name || !c.attrib.classname?.startsWith('devflow-failures.') || isNaN(parseFloat(c.attrib.time))) problems.push(`testcase attrs ${JSON.stringify(c.attrib)}`);
    const f = c.children.find((x) => x.tag === 'failure');
    if (!f || !f.attrib.message || !f.attrib.type) problems.push(`testcase ${c.attrib.name} has no failure with message and type`);
  }
  const odd = cases.find((c) => c.attrib.file === 'tests/test-010-xml-escaping.json');
  if (odd?.attrib.name !== 'escapes <&> "quotes" \'and\' \uFFFD control') problems.push(`escaped name round trip: ${JSON.stringify(odd?.attrib.name)}`);
  const text = odd?.children.find((x) => x.tag === 'failure')?.text || '';
  if (!text.includes(']]> </failure>') || !text.includes('a<b>&')) problems.push(`failure text: ${JSON.stringify(text)}`);
  const logs = cases.find((c) => c.attrib.file === 'tests/test-009-logs-on-failure.json')?.children.find((x) => x.tag === 'system-out')?.text || '';
  if (!logs.includes('[warn] careful <now> & then')) problems.push(`system-out: ${JSON.stringify(logs)}`);
  if (cases.find((c) => c.attrib.file === 'tests/test-001-wrong-output.json')?.children[0]?.attrib.type !== 'OutputMismatch') problems.push('failure type of an output mismatch');
});

await check('--format junit: passing tests have no failure elements', async (problems) => {
  const res = await run(['test', '--from-fs', path.join(data, 'devflow/keys'), '--format', 'junit']);
  if (!expectExit(problems, res, 0, 'test --format junit')) return;
  const suite = parseJunit(res.stdout).children[0];
  const cases = suite.children.filter((c) => c.tag === 'testcase');
  if (suite.attrib.failures !== '0' || cases.length !== 13) problems.push(`suite ${JSON.stringify(suite.attrib)}, ${cases.length} cases`);
  if (cases.some((c) => c.children.some((x) => x.tag === 'failure'))) problems.push('a passing testcase has a failure');
  const props = suite.children.find((c) => c.tag === 'properties')?.children.map((p) => p.attrib.name);
  if (!props?.includes('version') || !props?.includes('uuid')) problems.push(`properties ${props}`);
});

// ---------------------------------------------------------------- the original samples
await check('original addition: 001-003 pass, test-004-fail fails (exit 1)', async (problems) => {
  const res = await run(['test', '--from-fs', path.join(data, 'original/addition'), '--format', 'json']);
  if (!expectExit(problems, res, 1, 'test')) return;
  const r = parseJson(problems, res.stdout, 'stdout');
  const status = Object.fromEntries(r.tests.map((t) => [t.file, t.status]));
  if (!isDeepStrictEqual(status, { 'test-001.json': 'passed', 'test-002.json': 'passed', 'test-003.json': 'passed', 'test-004-fail.json': 'failed' })) problems.push(`statuses ${JSON.stringify(status)}`);
  if (!isDeepStrictEqual(r.tests[3].diff, ['/sum: expected 42, got 10'])) problems.push(`diff ${JSON.stringify(r.tests[3].diff)}`);
});

await check('original weather-api: every mocked test passes; the 404 is an HttpError with status 404', async (problems) => {
  const res = await run(['test', '--from-fs', path.join(data, 'original/weather-api'), '--format', 'json']);
  if (!expectExit(problems, res, 0, 'test')) return;
  const r = parseJson(problems, res.stdout, 'stdout');
  if (r.totals.passed !== 6) problems.push(`totals ${JSON.stringify(r.totals)}`);
  const t5 = r.tests.find((t) => t.file === 'test-005-city-not-found.json');
  if (t5?.status !== 'passed' || t5.requests?.[0]?.status !== 404 || !t5.requests[0].mocked) problems.push(`404 test: ${JSON.stringify(t5)}`);
  // The status is really checked: the same test expecting 500 fails.
  const copy = copyDir(path.join(data, 'original/weather-api'), path.join(work, 'weather-500'));
  const f = path.join(copy, 'tests/test-005-city-not-found.json');
  const t = readJson(f);
  t.expected_error.status = 500;
  writeJson(f, t);
  const bad = await run(['test', '--from-fs', copy]);
  if (expectExit(problems, bad, 1, 'test with the wrong status')) expectIncludes(problems, bad.stdout, 'expected HTTP status 500, got 404 (HttpError: HTTP 404: Not Found)', 'stdout');
});

// ---------------------------------------------------------------- record and replay
const recDir = path.join(work, 'recordings');
let session = null;
let server = await startServer();
const port = server.address().port;
const base = `http://127.0.0.1:${port}`;
const recorder = path.join(data, 'devflow/recorder');

await check('run-once --record: a folder with input, output, console log, run.json and a HAR 1.2 of every request', async (problems) => {
  const input = { base, name: 'widget' };
  const res = await run(['run-once', '--from-fs', recorder, '--input-json', JSON.stringify(input), '--record', recDir]);
  if (!expectExit(problems, res, 0, 'run-once --record')) return;
  session = sessionDir(problems, res.stderr, recDir);
  if (!session) return;
  const out = JSON.parse(res.stdout);
  if (!isDeepStrictEqual(out, { users: ['ada', 'bob'], created: { id: 9, name: 'widget' }, binarySum: 640, form: 'got a=1&b=two' })) problems.push(`output ${res.stdout}`);
  const files = fs.readdirSync(session).sort();
  if (!isDeepStrictEqual(files, ['console.log', 'input.json', 'output.json', 'requests.har', 'run.json'])) problems.push(`files ${files}`);
  if (!isDeepStrictEqual(readJson(path.join(session, 'input.json')), input)) problems.push('input.json');
  if (!isDeepStrictEqual(readJson(path.join(session, 'output.json')), out)) problems.push('output.json');
  const log = fs.readFileSync(path.join(session, 'console.log'), 'utf8');
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info +fetched 2 users\n$/.test(log)) problems.push(`console.log: ${JSON.stringify(log)}`);
  const runJson = readJson(path.join(session, 'run.json'));
  if (runJson.status !== 'succeeded' || runJson.requests !== 4 || runJson.task?.name !== 'devflow-recorder' || !/^[0-9a-f]{64}$/.test(runJson.task?.checksum)) problems.push(`run.json ${JSON.stringify(runJson)}`);
  const har = readJson(path.join(session, 'requests.har'));
  problems.push(...checkHar(har));
  const e = har.log.entries;
  if (e.length !== 4) return problems.push(`${e.length} entries, expected 4`);
  if (!isDeepStrictEqual(e.map((x) => [x.request.method, new URL(x.request.url).pathname, x.response.status]), [['GET', '/users', 200], ['POST', '/items', 201], ['GET', '/binary', 200], ['POST', '/form', 200]])) problems.push('entries in order');
  if (!isDeepStrictEqual(e[0].request.queryString, [{ name: 'page', value: '1' }, { name: 'q', value: 'a b' }])) problems.push(`queryString ${JSON.stringify(e[0].request.queryString)}`);
  if (e[0].response.content.mimeType !== 'application/json; charset=utf-8' || JSON.parse(e[0].response.content.text).q !== 'a b') problems.push('GET content');
  if (e[1].request.postData?.mimeType !== 'application/json' || e[1].request.postData?.text !== '{"name":"widget"}' || e[1].request.bodySize !== 17) problems.push(`postData ${JSON.stringify(e[1].request.postData)}`);
  const cookie = e[1].response.cookies[0];
  if (cookie?.name !== 'sid' || cookie?.value !== 'abc123' || cookie?.path !== '/' || cookie?.httpOnly !== true) problems.push(`cookies ${JSON.stringify(e[1].response.cookies)}`);
  if (e[1].response.statusText !== 'Created' || e[1].response.httpVersion !== 'HTTP/1.1') problems.push(`status text / version ${e[1].response.statusText} ${e[1].response.httpVersion}`);
  const c2 = e[2].response.content;
  if (c2.encoding !== 'base64' || !Buffer.from(c2.text, 'base64').equals(Buffer.from([0, 255, 254, 128, 1, 2])) || c2.size !== 6) problems.push(`binary content ${JSON.stringify(c2)}`);
  if (e[3].request.postData?.mimeType !== 'application/x-www-form-urlencoded' || e[3].request.postData?.text !== 'a=1&b=two') problems.push('form postData');
  if (!e[0].request.headers.some((h) => h.name.toLowerCase() === 'user-agent')) problems.push('request headers');
  if (!e[0].response.headers.some((h) => h.name.toLowerCase() === 'content-type')) problems.push('response headers');
});

await check('run-once --record twice: unique folder names', async (problems) => {
  const dir = path.join(work, 'twice');
  const a = await run(['run-once', '--from-fs', path.join(data, 'tasks/shapes-arrow'), '--input-json', '{"n":1}', '--record', dir]);
  const b = await run(['run-once', '--from-fs', path.join(data, 'tasks/shapes-arrow'), '--input-json', '{"n":1}', '--record', dir]);
  expectExit(problems, a, 0, 'first');
  expectExit(problems, b, 0, 'second');
  const names = fs.readdirSync(dir);
  if (names.length !== 2 || names.some((n) => n.startsWith('.'))) problems.push(`folders: ${names}`);
  const har = readJson(path.join(dir, names[0], 'requests.har'));
  if (har.log.entries.length !== 0 || checkHar(har).length) problems.push('a run without requests has an empty valid HAR');
});

await stopServer(server);
const hitsAfterRecording = hits;

await check('replay offline (server stopped): the output matches the recording', async (problems) => {
  if (!session) return problems.push('no recording');
  const res = await run(['replay', '--from-fs', recorder, '--recording', session]);
  if (!expectExit(problems, res, 0, 'replay')) return;
  expectIncludes(problems, res.stdout, '✓ the output matches the recording', 'stdout');
  expectIncludes(problems, res.stdout, 'offline; 4 requests made, 4 recorded', 'stdout');
  const json = await run(['replay', '--from-fs', recorder, '--recording', session, '--format', 'json']);
  const r = parseJson(problems, json.stdout, 'replay --format json');
  if (r && (r.status !== 'match' || r.requests.replayed !== 4 || r.requests.unused !== 0 || r.live !== false)) problems.push(`report ${json.stdout}`);
  if (hits !== hitsAfterRecording) problems.push('the offline replay reached the server');
});

function withHar(name, edit) {
  const dir = copyDir(session, path.join(work, name));
  const f = path.join(dir, 'requests.har');
  const har = readJson(f);
  edit(har, f);
  if (har) writeJson(f, har);
  return dir;
}

await check('replay of a modified recording: exit 1 with the diff', async (problems) => {
  if (!session) return problems.push('no recording');
  const dir = withHar('modified', (har) => {
    const c = har.log.entries[0].response.content;
    c.text = JSON.stringify({ users: ['ada', 'eve'], q: 'a b' });
    c.size = Buffer.byteLength(c.text);
  });
  const res = await run(['replay', '--from-fs', recorder, '--recording', dir]);
  if (!expectExit(problems, res, 1, 'replay')) return;
  expectIncludes(problems, res.stdout, '✗ the output differs from the recording (1 difference)', 'stdout');
  expectIncludes(problems, res.stdout, '/users/1: expected "bob", got "eve"', 'stdout');
});

await check('replay: a request the recording does not hold fails clearly', async (problems) => {
  if (!session) return problems.push('no recording');
  const dir = withHar('missing-entry', (har) => har.log.entries.pop());
  const res = await run(['replay', '--from-fs', recorder, '--recording', dir]);
  if (expectExit(problems, res, 1, 'replay')) expectIncludes(problems, res.stdout, `the task made a request the recording does not hold: POST ${base}/form`, 'stdout');
});

await check('replay: bad recordings are named (exit 2)', async (problems) => {
  if (!session) return problems.push('no recording');
  const cases = [
    ['truncated-body', (har) => { const c = har.log.entries[0].response.content; c.text = c.text.slice(0, 10); }, 'requests.har: log.entries[0].response.content: size is'],
    ['missing-field', (har) => { delete har.log.entries[1].timings; }, 'log.entries[1]: "timings" is missing'],
    ['wrong-type', (har) => { har.log.entries[2].response.status = '200'; }, 'log.entries[2].response.status must be a number'],
    ['no-creator', (har) => { delete har.log.creator; }, 'log: "creator" is missing'],
    ['truncated-file', (har, f) => { fs.writeFileSync(f, fs.readFileSync(f, 'utf8').slice(0, 700)); }, 'requests.har: malformed JSON at line'],
  ];
  for (const [name, edit, message] of cases) {
    const dir = copyDir(session, path.join(work, name));
    const f = path.join(dir, 'requests.har');
    if (name === 'truncated-file') edit(null, f);
    else { const har = readJson(f); edit(har, f); writeJson(f, har); }
    const res = await run(['replay', '--from-fs', recorder, '--recording', dir]);
    if (expectExit(problems, res, 2, `replay ${name}`)) expectIncludes(problems, res.stderr, message, `stderr of ${name}`);
  }
  const noHar = copyDir(session, path.join(work, 'no-har'));
  fs.rmSync(path.join(noHar, 'requests.har'));
  let res = await run(['replay', '--from-fs', recorder, '--recording', noHar]);
  if (expectExit(problems, res, 2, 'replay without a HAR')) expectIncludes(problems, res.stderr, 'has no requests.har', 'stderr');
  const noInput = copyDir(session, path.join(work, 'no-input'));
  fs.rmSync(path.join(noInput, 'input.json'));
  res = await run(['replay', '--from-fs', recorder, '--recording', noInput]);
  if (expectExit(problems, res, 2, 'replay without input.json')) expectIncludes(problems, res.stderr, 'has no input.json', 'stderr');
});

await check('replay against a task whose input schema no longer accepts the recorded input', async (problems) => {
  if (!session) return problems.push('no recording');
  const task = copyDir(recorder, path.join(work, 'recorder-v2'));
  const schema = readJson(path.join(task, 'input.schema.json'));
  schema.required.push('tenant');
  writeJson(path.join(task, 'input.schema.json'), schema);
  const res = await run(['replay', '--from-fs', task, '--recording', session]);
  if (!expectExit(problems, res, 1, 'replay')) return;
  expectIncludes(problems, res.stdout, 'the recorded input no longer passes the task\'s input schema', 'stdout');
  expectIncludes(problems, res.stdout, 'tenant', 'stdout');
  expectIncludes(problems, res.stdout, 'the task\'s files changed since the recording', 'stdout');
});

await check('replay --live sends the requests to the network', async (problems) => {
  if (!session) return problems.push('no recording');
  server = await startServer(port);
  const before = hits;
  const res = await run(['replay', '--from-fs', recorder, '--recording', session, '--live']);
  await stopServer(server);
  if (!expectExit(problems, res, 0, 'replay --live')) return;
  expectIncludes(problems, res.stdout, 'live, requests went to the network; 4 requests made', 'stdout');
  if (hits - before !== 4) problems.push(`the server saw ${hits - before} requests, expected 4`);
  const noHar = path.join(work, 'no-har');
  if (fs.existsSync(noHar)) {
    server = await startServer(port);
    const live = await run(['replay', '--from-fs', recorder, '--recording', noHar, '--live']);
    await stopServer(server);
    expectExit(problems, live, 0, 'replay --live of a recording without a HAR');
  }
});

await check('a failed run records error.json; its replay fails the same way (exit 0)', async (problems) => {
  const dir = path.join(work, 'failed-run');
  const res = await run(['run-once', '--from-fs', path.join(data, 'tasks/throws-error'), '--record', dir]);
  if (!expectExit(problems, res, 1, 'run-once')) return;
  const s = sessionDir(problems, res.stderr, dir);
  if (!s) return;
  if (fs.existsSync(path.join(s, 'output.json'))) problems.push('output.json written for a failed run');
  const err = readJson(path.join(s, 'error.json'));
  if (err.type !== 'TypeError' || !err.message) problems.push(`error.json ${JSON.stringify(err)}`);
  const rep = await run(['replay', '--from-fs', path.join(data, 'tasks/throws-error'), '--recording', s]);
  if (expectExit(problems, rep, 0, 'replay')) expectIncludes(problems, rep.stdout, 'the replay fails as the recording did: TypeError', 'stdout');
});

await check('test --record: one recording per test, mocked exchanges in the HAR, replayable', async (problems) => {
  const dir = path.join(work, 'test-recordings');
  const res = await run(['test', '--from-fs', path.join(data, 'devflow/http'), '--record', dir]);
  if (!expectExit(problems, res, 0, 'test --record')) return;
  const names = fs.readdirSync(dir).sort();
  if (names.length !== 7 || !names.every((n) => /^ratchet_session_\d{8}_\d{6}_\d{3}_test-00\d-[a-z-]+(_\d+)?$/.test(n))) problems.push(`folders ${names}`);
  const several = names.find((n) => n.includes('test-001-several-mocks'));
  expectIncludes(problems, res.stderr, `recorded test-001-several-mocks.json: ${path.join(dir, several)}`, 'stderr');
  const har = readJson(path.join(dir, several, 'requests.har'));
  problems.push(...checkHar(har));
  if (har.log.entries.length !== 3 || !har.log.entries.every((e) => /mock/.test(e.comment))) problems.push('mocked entries');
  const rep = await run(['replay', '--from-fs', path.join(data, 'devflow/http'), '--recording', path.join(dir, several)]);
  expectExit(problems, rep, 0, 'replay of a test recording');
});

// ---------------------------------------------------------------- generate
await check('generate task -> validate -> test passes; run-once works; a second generate refuses', async (problems) => {
  const dir = path.join(work, 'gen/nested/my-task');
  const res = await run(['generate', 'task', '--path', dir, '--label', 'My Task', '--description', 'doubles', '--version', '2.1.0']);
  if (!expectExit(problems, res, 0, 'generate')) return;
  const files = fs.readdirSync(dir).sort();
  if (!isDeepStrictEqual(files, ['input.schema.json', 'main.js', 'metadata.json', 'output.schema.json', 'tests'])) problems.push(`files ${files}`);
  if (!fs.existsSync(path.join(dir, 'tests/test-001.json'))) problems.push('no tests/test-001.json');
  const meta = readJson(path.join(dir, 'metadata.json'));
  if (meta.name !== 'my-task' || meta.label !== 'My Task' || meta.version !== '2.1.0' || meta.description !== 'doubles' || !/^[0-9a-f-]{36}$/.test(meta.uuid)) problems.push(`metadata ${JSON.stringify(meta)}`);
  const v = await run(['validate', '--from-fs', dir]);
  expectExit(problems, v, 0, 'validate');
  const t = await run(['test', '--from-fs', dir]);
  if (expectExit(problems, t, 0, 'test')) expectIncludes(problems, t.stdout, '1 passed, 0 failed', 'stdout');
  const r = await run(['run-once', '--from-fs', dir, '--input-json', '{"value": 4}']);
  if (expectExit(problems, r, 0, 'run-once') && !isDeepStrictEqual(JSON.parse(r.stdout), { result: 8 })) problems.push(`run-once ${r.stdout}`);
  const again = await run(['generate', 'task', '--path', dir]);
  if (expectExit(problems, again, 2, 'generate over an existing path')) expectIncludes(problems, again.stderr, 'already exists', 'stderr');
  if (readJson(path.join(dir, 'metadata.json')).uuid !== meta.uuid) problems.push('the existing task was changed');
  if (fs.readdirSync(path.dirname(dir)).length !== 1) problems.push(`leftovers next to the task: ${fs.readdirSync(path.dirname(dir))}`);
});

// ---------------------------------------------------------------- watch
// Starts `ratchet test --watch`; waitFor polls the combined output (bounded), never sleeps blind.
function startWatch(task) {
  const child = spawn(bin, ['test', '--from-fs', task, '--watch'], { cwd: root });
  const w = { child, out: '', exited: null };
  child.stdout.on('data', (d) => (w.out += d));
  child.stderr.on('data', (d) => (w.out += d));
  w.done = new Promise((r) => child.on('close', (code, signal) => { w.exited = { code, signal }; r(w.exited); }));
  w.waitFor = async (pred, what) => {
    const until = Date.now() + WAIT_MS;
    while (Date.now() < until) {
      if (pred(w.out)) return true;
      if (w.exited) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}; output so far:\n${w.out}`);
  };
  return w;
}
const count = (s, needle) => s.split(needle).length - 1;

await check('test --watch: reruns on change, survives a syntax error, exits 0 on SIGINT', async (problems) => {
  const task = copyDir(path.join(data, 'original/addition'), path.join(work, 'watched'));
  fs.rmSync(path.join(task, 'tests/test-004-fail.json'));
  const w = startWatch(task);
  try {
    await w.waitFor((o) => o.includes('3 passed, 0 failed'), 'the first run');
    await w.waitFor((o) => o.includes('watching'), 'the idle note');
    const main = path.join(task, 'main.js');
    const good = fs.readFileSync(main, 'utf8');
    fs.writeFileSync(main, good.replace('num1 + num2', 'num1 + num2 + 1'));
    await w.waitFor((o) => o.includes('0 passed, 3 failed'), 'the rerun after main.js changed');
    expectIncludes(problems, w.out, 'main.js changed: running the tests again', 'output');
    fs.writeFileSync(main, good.replace('return {', 'return {{'));
    await w.waitFor((o) => count(o, '0 passed, 3 failed') >= 2 && o.includes('SyntaxError'), 'the run with a syntax error');
    fs.writeFileSync(main, good);
    await w.waitFor((o) => count(o, '3 passed, 0 failed') >= 2, 'the run after the fix');
    const test1 = path.join(task, 'tests/test-001.json');
    fs.writeFileSync(test1, '{ "input": { "num1": 5, ');
    await w.waitFor((o) => o.includes('tests/test-001.json: malformed JSON'), 'the report of a half-written test file');
    fs.writeFileSync(test1, '{ "input": { "num1": 5, "num2": 5 }, "expected_output": { "sum": 10 } }');
    await w.waitFor((o) => count(o, '3 passed, 0 failed') >= 3, 'the run after the test file was fixed');
    fs.writeFileSync(path.join(task, 'tests/test-005-new.json'), '{ "input": { "num1": 1, "num2": 1 }, "expected_output": { "sum": 2 } }');
    await w.waitFor((o) => o.includes('4 passed, 0 failed'), 'the run with a new test file');
    if (w.exited) problems.push(`the watch exited early: ${JSON.stringify(w.exited)}`);
    w.child.kill('SIGINT');
    const { code, signal } = await w.done;
    if (code !== 0 || signal) problems.push(`after SIGINT: exit ${code} signal ${signal}`);
    if (/ERROR: (Address|Leak)Sanitizer|runtime error:/.test(w.out)) problems.push(`sanitizer: ${w.out.slice(-3000)}`);
  } finally {
    if (!w.exited) w.child.kill('SIGKILL');
  }
});

await check('test --watch: SIGTERM exits 0', async (problems) => {
  const task = copyDir(path.join(data, 'devflow/keys'), path.join(work, 'watched-keys'));
  const w = startWatch(task);
  try {
    await w.waitFor((o) => o.includes('13 passed, 0 failed') && o.includes('watching'), 'the first run');
    w.child.kill('SIGTERM');
    const { code, signal } = await w.done;
    if (code !== 0 || signal) problems.push(`after SIGTERM: exit ${code} signal ${signal}`);
  } finally {
    if (!w.exited) w.child.kill('SIGKILL');
  }
});

fs.rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
