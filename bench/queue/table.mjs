// Prints the queue benchmark's table from JSON lines on stdin (one per system; fields in
// bench/queue/README.md). Lines that are not JSON objects are ignored.
import { readFileSync } from 'node:fs';

const rows = [];
for (const line of readFileSync(0, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
        rows.push(JSON.parse(line));
    } catch {
        console.error(`table: not JSON: ${line}`);
    }
}
if (rows.length === 0) {
    console.log('(no results)');
    process.exit(0);
}
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '?');
const pair = (a, b) => `${num(a)} / ${num(b)}`;
const head = [
    'system',
    'durability',
    'enqueue jobs/s',
    'end-to-end jobs/s',
    'claim→commit p50 / p99 µs (loaded)',
    'queue latency p50 / p99 µs (low load)',
    'claim→commit p50 / p99 µs (low load)',
];
const body = rows.map((r) => [
    r.system ?? '?',
    r.durability ?? '?',
    num(r.enqueue_jobs_per_s),
    num(r.e2e_jobs_per_s),
    pair(r.claim_commit_p50_us, r.claim_commit_p99_us),
    pair(r.queue_latency_p50_us, r.queue_latency_p99_us),
    pair(r.idle_claim_commit_p50_us, r.idle_claim_commit_p99_us),
]);
const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const fmt = (cells) => '| ' + cells.map((c, i) => (i < 2 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(' | ') + ' |';
console.log(fmt(head));
console.log('|' + width.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const b of body) console.log(fmt(b));
console.log();
for (const r of rows) {
    console.log(`- ${r.system}, ${r.durability}: ${r.version ?? ''}${r.store ? ' on ' + r.store : ''}; ` +
        `${r.workers ?? '?'} worker processes; ${r.settings ?? ''}; ` +
        `${num(r.jobs)} jobs × ${r.reps ?? '?'} runs, low load ${num(r.idle_jobs)} jobs × ${r.reps ?? '?'} runs`);
}
