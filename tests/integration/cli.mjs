// Data-driven CLI tests: every tests/data/cli/*.json holds an array of cases, each run
// against the real binary. A case: {name, args, stdin?, exit, stdout_json?, stdout_contains?,
// stdout_not_contains?, stdout_empty?, stderr_contains?}. Placeholders in args: {samples},
// {tasks} (tests/data/tasks), {data} (tests/data), {closed_url} (a refusing local port).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const root = process.env.RATCHET_ROOT || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const bin = process.env.RATCHET_BIN || path.join(root, 'build/ratchet');
const dataDir = path.join(root, 'tests/data');

async function closedPort() {
  // Bind to a free port, then close it: connecting there is refused.
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

const vars = {
  samples: path.join(root, 'sample/tasks'),
  tasks: path.join(dataDir, 'tasks'),
  data: dataDir,
  closed_url: `http://127.0.0.1:${await closedPort()}/x`,
};
const subst = (s) => s.replace(/\{(samples|tasks|data|closed_url)\}/g, (_, k) => vars[k]);

let failed = 0;
function report(name, problems, res) {
  if (problems.length === 0) {
    console.log(`ok - cli: ${name}`);
    return;
  }
  failed++;
  for (const p of problems) console.log(`# ${p}`);
  if (res) {
    console.log(`# exit ${res.status}${res.signal ? ' signal ' + res.signal : ''}`);
    console.log(`# stdout: ${JSON.stringify((res.stdout || '').slice(0, 600))}`);
    console.log(`# stderr: ${JSON.stringify((res.stderr || '').slice(0, 1200))}`);
  }
  console.log(`not ok - cli: ${name}`);
}

function run(args, opts = {}) {
  return spawnSync(bin, args, { input: opts.stdin ?? '', encoding: 'utf8', timeout: 120000, cwd: opts.cwd || root, env: { ...process.env, ...(opts.env || {}) } });
}

function sanitizerProblems(res) {
  const s = res.stderr || '';
  return /ERROR: (Address|Leak|Thread)Sanitizer|runtime error:/.test(s) ? ['a sanitizer reported an error'] : [];
}

function check(c) {
  const args = c.args.map(subst);
  const res = run(args, { stdin: c.stdin });
  const problems = [...sanitizerProblems(res)];
  if (res.error) problems.push(`could not run: ${res.error.message}`);
  if (res.status !== c.exit) problems.push(`expected exit ${c.exit}, got ${res.status}`);
  if ('stdout_json' in c) {
    let got;
    try { got = JSON.parse(res.stdout); } catch (e) { problems.push(`stdout is not JSON: ${e.message}`); }
    if (got !== undefined && !isDeepStrictEqual(got, c.stdout_json)) problems.push(`stdout JSON differs: expected ${JSON.stringify(c.stdout_json)}`);
  }
  for (const s of c.stdout_contains || []) if (!res.stdout.includes(subst(s))) problems.push(`stdout lacks ${JSON.stringify(s)}`);
  for (const s of c.stdout_not_contains || []) if (res.stdout.includes(s)) problems.push(`stdout has ${JSON.stringify(s)}`);
  for (const s of c.stderr_contains || []) if (!res.stderr.includes(subst(s))) problems.push(`stderr lacks ${JSON.stringify(s)}`);
  if (c.stdout_empty && res.stdout !== '') problems.push('stdout is not empty');
  return { problems, res };
}

for (const file of fs.readdirSync(path.join(dataDir, 'cli')).filter((f) => f.endsWith('.json')).sort()) {
  const cases = JSON.parse(fs.readFileSync(path.join(dataDir, 'cli', file), 'utf8'));
  if (!Array.isArray(cases)) continue;
  for (const c of cases) {
    const { problems, res } = check(c);
    report(`${file.replace(/\.json$/, '')}: ${c.name}`, problems, res);
  }
}

// validate --fix on a copy of a half-made task: afterwards it validates and runs.
{
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ratchet-fix-'));
  const task = path.join(dir, 'half-made');
  fs.mkdirSync(task);
  fs.writeFileSync(path.join(task, 'metadata.json'), '{"description": "no name or version yet"}');
  const before = run(['validate', '--from-fs', task]);
  const fix = run(['validate', '--from-fs', task, '--fix']);
  const after = run(['validate', '--from-fs', task]);
  const meta = JSON.parse(fs.readFileSync(path.join(task, 'metadata.json'), 'utf8'));
  const runRes = run(['run-once', '--from-fs', task, '--input-json', '{"value": 7}']);
  const problems = [...sanitizerProblems(fix)];
  if (before.status !== 1) problems.push(`validate before --fix: exit ${before.status}, expected 1`);
  if (fix.status !== 0) problems.push(`validate --fix: exit ${fix.status}, expected 0`);
  if (after.status !== 0) problems.push(`validate after --fix: exit ${after.status}, expected 0`);
  if (meta.name !== 'half-made' || meta.version !== '1.0.0' || !meta.uuid || meta.description !== 'no name or version yet')
    problems.push(`metadata after --fix: ${JSON.stringify(meta)}`);
  for (const f of ['main.js', 'input.schema.json', 'output.schema.json'])
    if (!fs.existsSync(path.join(task, f))) problems.push(`--fix did not write ${f}`);
  if (runRes.status !== 0 || !isDeepStrictEqual(JSON.parse(runRes.stdout || 'null'), { result: 7 })) problems.push(`the fixed task does not run: ${runRes.stdout} ${runRes.stderr}`);
  report('validate --fix makes a half-made task valid and runnable', problems, fix);
  fs.rmSync(dir, { recursive: true, force: true });
}

// The generated CLI reference in docs/cli.md is the one the binary prints.
{
  const res = run(['--cli-reference']);
  const doc = fs.existsSync(path.join(root, 'docs/cli.md')) ? fs.readFileSync(path.join(root, 'docs/cli.md'), 'utf8') : '';
  report('docs/cli.md matches `ratchet --cli-reference` (regenerate with scripts/gen-docs)',
    res.stdout === doc ? [] : ['docs/cli.md is out of date'], null);
}

process.exit(failed ? 1 : 0);
