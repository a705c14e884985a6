// The webhook receiver of tests/helpers/webhook_receiver.mjs as a child process: it prints
// "port N" when it listens and exits when our stdin closes. secret (optional) is the HMAC
// secret it checks X-Ratchet-Signature with.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { root } from './server.mjs';

export async function startReceiver(secret) {
  const args = [path.join(root, 'tests/helpers/webhook_receiver.mjs'), ...(secret ? ['--secret', secret] : [])];
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { out += d; const m = out.match(/port (\d+)/); if (m) resolve(Number(m[1])); });
    proc.on('exit', (c) => reject(new Error(`webhook receiver exited (${c})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    // the requests it received whose path starts with prefix
    async requests(prefix) { return (await fetch(`${base}/_requests?prefix=${encodeURIComponent(prefix)}`)).json(); },
    // from now on, paths under /switch/<key> answer code
    async answer(key, code) { await fetch(`${base}/_switch/${key}/${code}`); },
    stop() { proc.stdin.end(); proc.kill('SIGTERM'); },
  };
}
