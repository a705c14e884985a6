// The queue benchmark driver for one peer system: node bench.mjs bullmq|graphile
// Started by bench/queue/run, which starts the store (redis-server / PostgreSQL) and passes
// QB_URL (and, for graphile, QB_PG_OPTIONS). Progress goes to stderr; the result is one JSON
// line on stdout (fields in bench/queue/README.md). Knobs (env, defaults in brackets):
//   QUEUE_BENCH_JOBS [20000]        jobs per throughput repetition
//   QUEUE_BENCH_REPS [3]            repetitions (after one warm-up of QUEUE_BENCH_WARMUP jobs)
//   QUEUE_BENCH_WARMUP [JOBS/4]
//   QUEUE_BENCH_BULK [1000]         jobs per bulk enqueue call (addBulk / addJobs)
//   QUEUE_BENCH_WORKERS [2]         worker processes
//   QUEUE_BENCH_IDLE_JOBS [1000]    jobs per low-load repetition (one at a time)
//   QUEUE_BENCH_IDLE_GAP_MS [5]     idle time between two low-load jobs
//   QB_CONCURRENCY, QB_LOCAL_QUEUE, QB_BATCH_DELAY: per-worker settings (see worker.mjs)
//   QB_REMOVE_ON_COMPLETE=1         (BullMQ) delete completed jobs instead of keeping them
//   QB_LABEL, QB_DURABILITY, QB_STORE: text for the output
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import process from 'node:process';

const require = createRequire(import.meta.url);
const now = () => Number(process.hrtime.bigint()) / 1000; // µs, CLOCK_MONOTONIC
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : Number(process.env[k]));

const system = process.argv[2];
const url = process.env.QB_URL;
const N = env('QUEUE_BENCH_JOBS', 20000);
const REPS = env('QUEUE_BENCH_REPS', 3);
const WARMUP = env('QUEUE_BENCH_WARMUP', Math.max(1, Math.floor(N / 4)));
const BULK = env('QUEUE_BENCH_BULK', 1000);
const WORKERS = env('QUEUE_BENCH_WORKERS', 2);
const IDLE_N = env('QUEUE_BENCH_IDLE_JOBS', 1000);
const IDLE_GAP = env('QUEUE_BENCH_IDLE_GAP_MS', 5);
const CONCURRENCY = env('QB_CONCURRENCY', 8);
const log = (...a) => console.error(`[${process.env.QB_LABEL || system}]`, ...a);

const pkgVersion = (name) => require(`${name}/package.json`).version;

// --- the producer side of each system -----------------------------------------------------
let producer;
if (system === 'bullmq') {
    const { Queue } = await import('bullmq');
    const { default: IORedis } = await import('ioredis');
    const connection = new IORedis(url, { maxRetriesPerRequest: null });
    const removeOnComplete = process.env.QB_REMOVE_ON_COMPLETE === '1';
    const queue = new Queue('bench', { connection, defaultJobOptions: removeOnComplete ? { removeOnComplete: true } : {} });
    await queue.waitUntilReady();
    await queue.obliterate({ force: true });
    producer = {
        version: `bullmq ${pkgVersion('bullmq')} (ioredis ${pkgVersion('ioredis')})`,
        settings: `Worker concurrency ${CONCURRENCY} per process; Queue.addBulk in chunks of ${BULK}; ` +
            (removeOnComplete ? 'removeOnComplete: true (completed jobs deleted)'
                : 'default job options (completed jobs and their results kept)'),
        async addBulk(payloads) {
            const jobs = await queue.addBulk(payloads.map((data) => ({ name: 'sum', data })));
            return jobs.map((j) => j.id);
        },
        async addOne(data) {
            return (await queue.add('sum', data)).id;
        },
        async between() {
            await queue.clean(0, 0, 'completed'); // keep every repetition on an equal footing
        },
        async close() {
            await queue.obliterate({ force: true });
            await queue.close();
            await connection.quit();
        },
    };
} else if (system === 'graphile') {
    const { makeWorkerUtils, Logger } = await import('graphile-worker');
    const { default: pg } = await import('pg');
    const pgPool = new pg.Pool({ connectionString: url, max: 2, options: process.env.QB_PG_OPTIONS || undefined });
    pgPool.on('error', (err) => console.error(`pg pool: ${err}`));
    pgPool.on('connect', (client) => client.on('error', (err) => console.error(`pg client: ${err}`)));
    const utils = await makeWorkerUtils({
        pgPool,
        logger: new Logger(() => (level, message) => {
            if (level === 'error' || level === 'warning') console.error(`graphile-worker ${level}: ${message}`);
        }),
    });
    await utils.migrate(); // once, before the workers race to do it
    const lq = env('QB_LOCAL_QUEUE', -1);
    const bd = env('QB_BATCH_DELAY', -1);
    producer = {
        version: `graphile-worker ${pkgVersion('graphile-worker')} (pg ${pkgVersion('pg')})`,
        settings: `concurrency ${CONCURRENCY} per process, pool ${CONCURRENCY + 1}, ` +
            `localQueue.size ${lq}, complete/failJobBatchDelay ${bd}; addJobs in chunks of ${BULK}` +
            (process.env.QB_PG_OPTIONS ? `; session ${process.env.QB_PG_OPTIONS}` : ''),
        async addBulk(payloads) {
            const jobs = await utils.addJobs(payloads.map((payload) => ({ identifier: 'sum', payload })));
            return jobs.map((j) => String(j.id));
        },
        async addOne(payload) {
            return String((await utils.addJob('sum', payload)).id);
        },
        async between() {},
        async close() {
            await utils.release();
            await pgPool.end();
        },
    };
} else {
    console.error('usage: node bench.mjs bullmq|graphile');
    process.exit(2);
}

// --- worker processes ----------------------------------------------------------------------
let doneTotal = 0;
let waiter = null; // { target, resolve }
const workers = [];
const cleanupWorkers = () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
};
const workerScript = fileURLToPath(new URL('./worker.mjs', import.meta.url));
function checkWaiter() {
    if (waiter && doneTotal >= waiter.target) {
        const w = waiter;
        waiter = null;
        w.resolve();
    }
}
for (let i = 0; i < WORKERS; i++) {
    const child = fork(workerScript, [], {
        env: { ...process.env, QB_SYSTEM: system, QB_CONCURRENCY: String(CONCURRENCY), NO_LOG_SUCCESS: '1' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const w = { child, ready: null, reportResolve: null };
    w.ready = new Promise((resolve) => {
        child.on('exit', (code, signal) => {
            if (w.stopping) return;
            if (signal === 'SIGINT' || signal === 'SIGTERM' || signal === 'SIGHUP') {
                cleanupWorkers(); // Ctrl-C reached the worker first: die of it too
                process.kill(process.pid, signal);
                return;
            }
            console.error(`queue bench: worker ${i} exited unexpectedly (${signal || code})`);
            process.exit(1); // the 'exit' handler kills the other workers
        });
        child.on('message', (m) => {
            if (m.type === 'ready') resolve();
            else if (m.type === 'done') {
                doneTotal += m.n;
                checkWaiter();
            } else if (m.type === 'report') w.reportResolve(m);
        });
    });
    workers.push(w);
}
process.on('exit', cleanupWorkers);
for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
        cleanupWorkers();
        process.removeAllListeners(sig);
        process.kill(process.pid, sig); // die of the signal, so that the calling shell stops too
    });
}
await Promise.all(workers.map((w) => w.ready));

function waitDone(target, what) {
    return new Promise((resolve, reject) => {
        let last = doneTotal;
        const timer = setInterval(() => {
            if (doneTotal === last) {
                clearInterval(timer);
                reject(new Error(`${what}: no job completed for 60 s (${doneTotal}/${target})`));
            }
            last = doneTotal;
        }, 60000);
        waiter = { target, resolve: () => (clearInterval(timer), resolve()) };
        checkWaiter();
    });
}

async function collect() {
    const reports = await Promise.all(
        workers.map((w) => new Promise((resolve) => {
            w.reportResolve = resolve;
            w.child.send({ type: 'report' });
        })),
    );
    const out = { ids: [], claim: [], start: [], commit: [] };
    for (const r of reports) for (const k of Object.keys(out)) out[k] = out[k].concat(r[k]);
    const unclaimed = reports.reduce((a, r) => a + r.unclaimed, 0);
    if (unclaimed > 0) log(`warning: no claim time seen for ${unclaimed} jobs (their start time was used)`);
    return out;
}

const pct = (sorted, p) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const payload = (i) => ({ num1: i, num2: i + 1 });

async function throughput(n) {
    const payloads = Array.from({ length: n }, (_, i) => payload(i));
    const target = doneTotal + n;
    const t0 = now();
    for (let i = 0; i < n; i += BULK) await producer.addBulk(payloads.slice(i, i + BULK));
    const tEnq = now();
    await waitDone(target, 'throughput');
    const r = await collect();
    if (r.ids.length !== n) throw new Error(`expected ${n} completions, got ${r.ids.length}`);
    const cc = r.commit.map((c, i) => c - r.claim[i]).sort((a, b) => a - b);
    const last = r.commit.reduce((a, b) => Math.max(a, b), -Infinity);
    await producer.between();
    return {
        enqueue: n / ((tEnq - t0) / 1e6),
        e2e: n / ((last - t0) / 1e6),
        cc50: pct(cc, 0.5),
        cc99: pct(cc, 0.99),
    };
}

async function lowLoad(n) {
    const t0s = new Map();
    for (let i = 0; i < n; i++) {
        const target = doneTotal + 1;
        const t0 = now();
        const id = await producer.addOne(payload(i));
        t0s.set(String(id), t0);
        await waitDone(target, 'low load');
        await sleep(IDLE_GAP);
    }
    const r = await collect();
    const ql = r.ids.map((id, i) => r.start[i] - t0s.get(id)).sort((a, b) => a - b);
    const cc = r.commit.map((c, i) => c - r.claim[i]).sort((a, b) => a - b);
    if (ql.some(Number.isNaN)) throw new Error('low load: a completion of an unknown job');
    await producer.between();
    return { ql50: pct(ql, 0.5), ql99: pct(ql, 0.99), cc50: pct(cc, 0.5), cc99: pct(cc, 0.99) };
}

const fmt = (x) => Math.round(x);
try {
    log(`warm-up: ${WARMUP} jobs`);
    await throughput(WARMUP);
    const tp = [];
    for (let i = 0; i < REPS; i++) {
        const r = await throughput(N);
        log(`throughput ${i + 1}/${REPS}: enqueue ${fmt(r.enqueue)} jobs/s, end to end ${fmt(r.e2e)} jobs/s, ` +
            `claim->commit p50 ${fmt(r.cc50)} us p99 ${fmt(r.cc99)} us`);
        tp.push(r);
    }
    log(`low-load warm-up: ${Math.min(50, IDLE_N)} jobs`);
    await lowLoad(Math.min(50, IDLE_N));
    const ll = [];
    for (let i = 0; i < REPS; i++) {
        const r = await lowLoad(IDLE_N);
        log(`low load ${i + 1}/${REPS}: queue latency p50 ${fmt(r.ql50)} us p99 ${fmt(r.ql99)} us, ` +
            `claim->commit p50 ${fmt(r.cc50)} us p99 ${fmt(r.cc99)} us`);
        ll.push(r);
    }
    const line = {
        system: process.env.QB_LABEL || system,
        version: producer.version,
        store: process.env.QB_STORE || '',
        durability: process.env.QB_DURABILITY || '',
        settings: producer.settings,
        workers: WORKERS,
        concurrency: CONCURRENCY,
        jobs: N,
        reps: REPS,
        idle_jobs: IDLE_N,
        enqueue_jobs_per_s: fmt(median(tp.map((r) => r.enqueue))),
        e2e_jobs_per_s: fmt(median(tp.map((r) => r.e2e))),
        claim_commit_p50_us: fmt(median(tp.map((r) => r.cc50))),
        claim_commit_p99_us: fmt(median(tp.map((r) => r.cc99))),
        queue_latency_p50_us: fmt(median(ll.map((r) => r.ql50))),
        queue_latency_p99_us: fmt(median(ll.map((r) => r.ql99))),
        idle_claim_commit_p50_us: fmt(median(ll.map((r) => r.cc50))),
        idle_claim_commit_p99_us: fmt(median(ll.map((r) => r.cc99))),
    };
    console.log(JSON.stringify(line));
} finally {
    for (const w of workers) {
        w.stopping = true;
        if (w.child.exitCode === null) w.child.send({ type: 'stop' });
    }
    await Promise.race([
        Promise.all(workers.map((w) => (w.child.exitCode !== null ? null : new Promise((r) => w.child.on('exit', r))))),
        sleep(10000),
    ]);
    cleanupWorkers();
    await producer.close();
}
