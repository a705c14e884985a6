// Data-driven REST tests with the real curl binary against the real `ratchet serve`: every
// tests/data/rest/*.json file is {server?, cases[]} and runs on a fresh server of its own,
// once on SQLite and once on PostgreSQL ($RATCHET_TEST_PG_URL). Every JSON answer is also
// checked against the schema the server's OpenAPI document gives for that route and status,
// and every route the server answers must be documented there.
//
// server: {keys: ["admin", ...] (API keys made with `ratchet apikey create` before start),
//          rateLimit: true (else server.rate_limit.enabled=false),
//          args: [...] (more serve flags), env: {...}, workers: N, backends: ["sqlite"]}
// case:   {name, method?, path, headers?, auth?: role|"bogus", authHeader?: "x-api-key",
//          body? (JSON) | bodyRaw? (string) | bodyBase64? | bodyBytes?: N, contentType?, curl?: [args],
//          status, json? (subset), jsonExact?, length?, contains?, notContains?,
//          headers?: {name: "text" | "re:regex" | null (absent)}, save?: {var: "/pointer"},
//          poll?: {until: subset, timeoutMs}, repeat?: N, skipSchema?, sleepMs?}
// Strings may use {{var}}: saved values, {{base}}.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { backends, root, sanitizerProblems, startServer } from './lib/server.mjs';
import { openapiChecker } from './lib/openapi.mjs';

const dataDir = path.join(root, 'tests/data/rest');
const only = process.env.REST_CASES; // a file-name filter for debugging
let failed = 0;

function report(label, problems, extra) {
  if (problems.length === 0) {
    console.log(`ok - ${label}`);
    return;
  }
  failed++;
  for (const p of problems) console.log(`# ${p}`);
  for (const e of extra || []) console.log(`# ${e}`);
  console.log(`not ok - ${label}`);
}

function subst(v, vars) {
  if (typeof v === 'string') {
    const whole = v.match(/^\{\{(\w+)\}\}$/);
    if (whole && whole[1] in vars && typeof vars[whole[1]] !== 'string') return vars[whole[1]];
    return v.replace(/\{\{(\w+)\}\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  }
  if (Array.isArray(v)) return v.map((x) => subst(x, vars));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, subst(x, vars)]));
  return v;
}

function pointer(obj, ptr) {
  if (ptr === '' || ptr === '/') return obj;
  return ptr.split('/').slice(1).reduce((o, t) => (o == null ? undefined : o[t.replace(/~1/g, '/').replace(/~0/g, '~')]), obj);
}

// Deep subset: every key of want is in got with a matching value; arrays match element-wise
// with the same length; "re:..." strings are regexes; "*" matches anything present.
function matches(want, got, at, problems) {
  if (want === '*') {
    if (got === undefined) problems.push(`${at || '(root)'}: missing`);
    return;
  }
  if (typeof want === 'string' && want.startsWith('re:')) {
    if (typeof got !== 'string' || !new RegExp(want.slice(3)).test(got)) problems.push(`${at || '(root)'}: ${JSON.stringify(got)} does not match /${want.slice(3)}/`);
    return;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) {
      problems.push(`${at || '(root)'}: expected an array of ${want.length}, got ${JSON.stringify(got)?.slice(0, 200)}`);
      return;
    }
    want.forEach((w, i) => matches(w, got[i], `${at}/${i}`, problems));
    return;
  }
  if (want && typeof want === 'object') {
    if (!got || typeof got !== 'object') {
      problems.push(`${at || '(root)'}: expected an object, got ${JSON.stringify(got)?.slice(0, 200)}`);
      return;
    }
    for (const [k, w] of Object.entries(want)) matches(w, got[k], `${at}/${k}`, problems);
    return;
  }
  if (got !== want) problems.push(`${at || '(root)'}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)?.slice(0, 200)}`);
}

function curl(c, base, work) {
  const url = base + c.path;
  const args = ['-sS', '--path-as-is', '-o', `${work}/body`, '-D', `${work}/headers`, '-w', '%{http_code}', '-X', c.method || 'GET', '--max-time', '60'];
  for (const [k, v] of Object.entries(c.headers || {})) args.push('-H', `${k}: ${v}`);
  let body = null;
  if (c.bodyBytes !== undefined) body = 'x'.repeat(c.bodyBytes);
  else if (c.bodyRaw !== undefined) body = c.bodyRaw;
  else if (c.bodyBase64 !== undefined) body = Buffer.from(c.bodyBase64, 'base64');
  else if (c.body !== undefined) body = JSON.stringify(c.body);
  if (body !== null) {
    fs.writeFileSync(`${work}/req`, body);
    args.push('--data-binary', `@${work}/req`);
    if (!Object.keys(c.headers || {}).some((h) => h.toLowerCase() === 'content-type')) args.push('-H', `Content-Type: ${c.contentType || 'application/json'}`);
  }
  args.push(...(c.curl || []), url);
  const r = spawnSync('curl', args, { encoding: 'utf8' });
  const status = Number(r.stdout);
  const raw = fs.existsSync(`${work}/body`) ? fs.readFileSync(`${work}/body`, 'utf8') : '';
  const headerText = fs.existsSync(`${work}/headers`) ? fs.readFileSync(`${work}/headers`, 'utf8') : '';
  const headers = {};
  for (const line of headerText.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let json;
  if ((headers['content-type'] || '').includes('json') && raw) {
    try { json = JSON.parse(raw); } catch { json = undefined; }
  }
  for (const f of ['body', 'headers', 'req']) fs.rmSync(`${work}/${f}`, { force: true });
  return { status, raw, headers, json, curlError: r.status !== 0 ? r.stderr : null };
}

async function runFile(file, backend) {
  const spec = JSON.parse(fs.readFileSync(path.join(dataDir, file), 'utf8'));
  const server = spec.server || {};
  if (server.backends && !server.backends.includes(backend)) return;
  const label = `rest[${backend}]: ${file.replace(/\.json$/, '')}`;
  let srv;
  try {
    // Rate limiting is off unless the file is about it: the cases come faster than a client.
    const args = [...(server.rateLimit ? [] : ['--set', 'server.rate_limit.enabled=false']), ...(server.args || [])];
    srv = await startServer({ backend, keys: server.keys, args, env: server.env, workers: server.workers });
  } catch (e) {
    report(`${label}: server starts`, [String(e.message).slice(0, 3000)]);
    return;
  }
  const vars = {
    base: srv.base,
    many: Array.from({ length: 300 }, (_, i) => `p${i}=1`).join('&'),
    thousand: Array.from({ length: 1001 }, (_, i) => i + 1).join(','),
  };
  const work = fs.mkdtempSync(path.join(srv.dir, 'curl-'));
  const docRes = curl({ path: '/api/v1/openapi.json' }, srv.base, work);
  const check = openapiChecker(docRes.json);
  for (const raw of spec.cases) {
    const c = subst(raw, vars);
    const headers = { ...(c.headers || {}) };
    if (c.auth) {
      const key = c.auth === 'bogus' ? 'rat_AAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' : srv.keys[c.auth];
      if (c.authHeader === 'x-api-key') headers['X-API-Key'] = key;
      else headers.Authorization = `Bearer ${key}`;
    }
    c.headers = headers;
    if (c.sleepMs) await new Promise((r) => setTimeout(r, c.sleepMs));
    let res;
    const deadline = Date.now() + (c.poll ? c.poll.timeoutMs || 15000 : 0);
    for (let i = 0; ; i++) {
      res = curl(c, srv.base, work);
      if (c.repeat && i + 1 < c.repeat) continue;
      if (!c.poll) break;
      const p = [];
      if (res.json !== undefined) matches(c.poll.until, res.json, '', p);
      if (p.length === 0 && res.json !== undefined) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const problems = [];
    if (res.curlError) problems.push(`curl: ${res.curlError}`);
    const wantStatus = Array.isArray(c.status) ? c.status : [c.status ?? 200];
    if (!wantStatus.includes(res.status)) problems.push(`status ${res.status}, want ${wantStatus.join(' or ')}`);
    if (c.json !== undefined) matches(c.json, res.json, '', problems);
    if (c.jsonExact !== undefined && JSON.stringify(res.json) !== JSON.stringify(c.jsonExact)) problems.push(`body ${res.raw.slice(0, 300)} is not exactly ${JSON.stringify(c.jsonExact)}`);
    if (c.length !== undefined && (!Array.isArray(res.json) || res.json.length !== c.length)) problems.push(`expected an array of ${c.length}, got ${res.raw.slice(0, 200)}`);
    if (c.contains && !res.raw.includes(c.contains)) problems.push(`body lacks ${JSON.stringify(c.contains)}`);
    if (c.notContains && res.raw.includes(c.notContains)) problems.push(`body has ${JSON.stringify(c.notContains)}`);
    for (const [h, want] of Object.entries(c.expectHeaders || {})) {
      const got = res.headers[h.toLowerCase()];
      if (want === null) { if (got !== undefined) problems.push(`header ${h} should be absent, is ${got}`); continue; }
      if (got === undefined) { problems.push(`header ${h} is missing`); continue; }
      if (typeof want === 'string' && want.startsWith('re:') ? !new RegExp(want.slice(3), 'i').test(got) : got !== String(want)) problems.push(`header ${h}: ${got}, want ${want}`);
    }
    if (!c.skipSchema && res.json !== undefined) {
      const pathname = new URL(srv.base + c.path.replace(/#.*/, '')).pathname;
      const ps = check(c.method || 'GET', decodeURIComponent(pathname), res.status, res.json);
      const undocumentedOk = [404, 405].includes(res.status) && ps.length === 1 && /no documented operation/.test(ps[0]);
      if (!undocumentedOk) problems.push(...ps.map((p) => `OpenAPI: ${p}`));
    }
    for (const [k, ptr] of Object.entries(c.save || {})) {
      const v = pointer(res.json, ptr);
      if (v === undefined) problems.push(`save ${k}: nothing at ${ptr}`);
      else vars[k] = v;
    }
    report(`${label}: ${c.name}`, problems, [`${c.method || 'GET'} ${c.path}`, `answer: ${res.status} ${res.raw.slice(0, 400)}`]);
  }
  const exit = await srv.stop();
  const log = srv.log();
  const problems = [];
  if (exit.code !== 0) problems.push(`serve exited with ${exit.code ?? exit.signal} on SIGTERM`);
  if (sanitizerProblems(log)) problems.push('a sanitizer reported an error');
  report(`${label}: stops cleanly on SIGTERM`, problems, problems.length ? log.split('\n').slice(-40) : []);
  if (problems.length === 0 && !failed) srv.cleanup();
}

const files = fs.readdirSync(dataDir).filter((f) => f.endsWith('.json') && (!only || f.includes(only))).sort();
for (const backend of backends()) {
  for (const f of files) await runFile(f, backend);
}
if (!process.env.RATCHET_TEST_PG_URL) report('rest[postgres]: a PostgreSQL to test against', ['RATCHET_TEST_PG_URL is not set (tests/run starts one with scripts/pg-test-server)']);
process.exit(failed ? 1 : 0);
