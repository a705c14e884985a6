// A webhook receiver for the delivery tests (tests/unit/test_delivery.c starts it): listens on
// 127.0.0.1 (random port, printed as "port N"), records every request, verifies
// X-Ratchet-Signature the way docs/delivery.md tells receivers to, and answers by path:
//
//   /ok                      200
//   /status/<code>           <code>, always
//   /flaky/<n>/<code>/<key>  <code> for the first n requests of that path, then 200
//   /retry-after/<s>/<key>   429 with "Retry-After: <s>" the first time, then 200
//   /hang                    never answers
//   /switch/<key>            500 until the test sets another answer with /_switch/<key>/<code>
//   GET /_switch/<key>/<code> sets what /switch/<key> answers from now on
//   GET /_requests?prefix=P  the recorded requests whose path starts with P, as JSON
//
//   node webhook_receiver.mjs [--secret S]
import crypto from 'node:crypto';
import http from 'node:http';

const secretArg = process.argv.indexOf('--secret');
const secret = secretArg > 0 ? process.argv[secretArg + 1] : null;
const requests = [];
const counts = new Map();
const switches = new Map();

// The recipe of docs/delivery.md: "t=<unix>,v1=<hex>" over "<t>.<raw body>", constant-time
// compare, and a timestamp no older than 5 minutes.
function verify(header, body) {
  if (!header) return null;
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2)));
  if (!parts.t || !parts.v1 || !secret) return false;
  const expected = crypto.createHmac('sha256', secret).update(`${parts.t}.`).update(body).digest('hex');
  const fresh = Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
  return fresh && expected.length === parts.v1.length &&
    crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(parts.v1));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/_requests') {
      const prefix = url.searchParams.get('prefix') || '';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(requests.filter((r) => r.path.startsWith(prefix))));
      return;
    }
    if (url.pathname.startsWith('/_switch/')) {
      const [, , key, code] = url.pathname.split('/');
      switches.set(key, Number(code));
      res.end('{}');
      return;
    }
    requests.push({
      method: req.method,
      path: url.pathname,
      headers: req.headers,
      body: body.toString('utf8'),
      sigValid: verify(req.headers['x-ratchet-signature'], body),
      time: Date.now(),
    });
    const seg = url.pathname.split('/').filter(Boolean);
    const n = (counts.get(url.pathname) || 0) + 1;
    counts.set(url.pathname, n);
    if (seg[0] === 'hang') return;
    let status = 200;
    if (seg[0] === 'status') status = Number(seg[1]);
    if (seg[0] === 'switch') status = switches.get(seg[1]) ?? 500;
    if (seg[0] === 'flaky' && n <= Number(seg[1])) status = Number(seg[2]);
    if (seg[0] === 'retry-after' && n === 1) {
      status = 429;
      res.setHeader('retry-after', seg[1]);
    }
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ status, n }));
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
// The test holds our stdin open: when it exits (or crashes), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
