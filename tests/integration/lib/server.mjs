// Starts the real `ratchet serve` for integration tests: a temp data dir, a fresh store
// (SQLite file, or a new schema of $RATCHET_TEST_PG_URL's database), a copy of the sample
// tasks plus tests/data/rest/tasks as its registry, port 0 (a free port, read back from the
// banner) on 127.0.0.1. stop() sends SIGTERM and waits for a clean exit.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const root = process.env.RATCHET_ROOT || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
export const bin = process.env.RATCHET_BIN || path.join(root, 'build/ratchet');
const workBase = process.env.RATCHET_TEST_WORK || os.tmpdir();
let seq = 0;

// A clean environment: no RATCHET_* from the caller, so the test sees defaults.
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RATCHET_')) env[k] = v;
  return { ...env, ...extra };
}

export function backends() {
  const b = ['sqlite'];
  if (process.env.RATCHET_TEST_PG_URL) b.push('postgres');
  return b;
}

// A URL of an empty database for backend.
export function freshDatabase(backend, dir) {
  if (backend === 'sqlite') return `sqlite://${dir}/ratchet.db`;
  const base = process.env.RATCHET_TEST_PG_URL;
  if (!base) throw new Error('RATCHET_TEST_PG_URL is not set: no PostgreSQL to test against');
  const schema = `rest_${process.pid}_${++seq}_${Date.now() % 100000}`;
  const r = spawnSync('psql', [base, '-v', 'ON_ERROR_STOP=1', '-q', '-c',
    `SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`],
  { encoding: 'utf8', env: { ...process.env, PGGSSENCMODE: 'disable' } });
  if (r.status !== 0) throw new Error(`psql: cannot create schema ${schema}: ${r.stderr}`);
  return `${base}${base.includes('?') ? '&' : '?'}options=-csearch_path%3D${schema}`;
}

function copyDir(src, dst) {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name), d = path.join(dst, e.name);
    if (e.isDirectory()) copyDir(s, d); else fs.copyFileSync(s, d);
  }
}

// Runs a ratchet CLI command; returns {status, stdout, stderr}.
export function cli(args, opts = {}) {
  return spawnSync(bin, args, { encoding: 'utf8', cwd: opts.cwd || root, env: cleanEnv(opts.env), timeout: 60000 });
}

export async function startServer(opts = {}) {
  const backend = opts.backend || 'sqlite';
  const dir = fs.mkdtempSync(path.join(workBase, 'serve-'));
  const tasks = path.join(dir, 'tasks');
  copyDir(path.join(root, 'sample/tasks'), tasks);
  const extra = path.join(root, 'tests/data/rest/tasks');
  if (fs.existsSync(extra)) copyDir(extra, tasks);
  const db = opts.database || freshDatabase(backend, dir);
  const keys = {};
  for (const role of opts.keys || []) {
    const r = cli(['apikey', 'create', '--role', role, '--name', `${role}-key`, '--database', db, '--json'], { cwd: dir });
    if (r.status !== 0) throw new Error(`apikey create: ${r.stderr}`);
    keys[role] = JSON.parse(r.stdout).key;
  }
  const args = ['serve', '--port', '0', '--database', db, '--workers', String(opts.workers ?? 2),
    '--set', `registry.paths=["${tasks}"]`, ...(opts.args || [])];
  const log = fs.openSync(path.join(dir, 'serve.log'), 'w');
  const proc = spawn(bin, args, { cwd: dir, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', log] });
  let out = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start in 30 s:\n${out}\n${readLog(dir)}`)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening\s+(http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`serve exited (${code ?? sig}) before listening:\n${out}\n${readLog(dir)}`)); });
  });
  proc.removeAllListeners('exit');
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    base, dir, db, tasks, keys, backend, proc,
    stdout: () => out,
    log: () => readLog(dir),
    async stop(signal = 'SIGTERM', timeoutMs = 30000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      fs.closeSync(log);
      return r;
    },
    cleanup() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

function readLog(dir) {
  try { return fs.readFileSync(path.join(dir, 'serve.log'), 'utf8'); } catch { return ''; }
}

// True if a sanitizer reported something in text (the server's log).
export function sanitizerProblems(text) {
  return /ERROR: (Address|Leak|Thread)Sanitizer|runtime error:/.test(text || '');
}
