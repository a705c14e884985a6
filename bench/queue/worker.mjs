// One worker process of the queue benchmark, started by bench.mjs with fork().
//
//   QB_SYSTEM=bullmq|graphile  QB_URL=redis://... or postgres://...  QB_CONCURRENCY=n
//   (graphile only) QB_LOCAL_QUEUE=size (-1: off)  QB_BATCH_DELAY=ms (-1: off)  QB_PG_OPTIONS
//
// The task is trivial: {num1, num2} -> {sum: num1 + num2}. For every job this process records,
// on CLOCK_MONOTONIC (process.hrtime, the same clock in every process of the machine), in µs:
//   claim  - the worker has the claimed job in hand: BullMQ calls the processor right after its
//            moveToActive/moveToFinished script returned the job; graphile-worker: the query that
//            locked the job (get jobs) returned it, before any wait in its local queue;
//   start  - the task function was entered;
//   commit - the store acknowledged the completion: BullMQ emits 'completed' right after its
//            moveToFinished script returned; graphile-worker: the DELETE of the job row (its
//            completion, autocommit) returned - observed by wrapping pg's Client#query, since
//            graphile-worker does not await completions itself (nor expose their end).
// Messages to the parent: {type:'ready'}, {type:'done', n} (jobs committed since the last one,
// coalesced per event-loop turn), {type:'report', ids, claim, start, commit} when asked.
import process from 'node:process';

const now = () => Number(process.hrtime.bigint()) / 1000;
const system = process.env.QB_SYSTEM;
const url = process.env.QB_URL;
const concurrency = Number(process.env.QB_CONCURRENCY || 8);

const claims = new Map(); // job id -> µs
const starts = new Map();
const rec = { ids: [], claim: [], start: [], commit: [], unclaimed: 0 };
let pending = 0;
let flushing = false;

function flush() {
    flushing = false;
    if (pending > 0 && process.connected) process.send({ type: 'done', n: pending });
    pending = 0;
}

function committed(id, t) {
    id = String(id);
    const s = starts.get(id);
    if (s === undefined) return; // not one of ours (cannot happen in this benchmark)
    starts.delete(id);
    let c = claims.get(id);
    if (c === undefined) {
        c = s; // no claim seen at the driver (graphile-worker): should not happen
        rec.unclaimed++;
    }
    claims.delete(id);
    rec.ids.push(id);
    rec.claim.push(c);
    rec.start.push(s);
    rec.commit.push(t);
    pending++;
    if (!flushing) {
        flushing = true;
        setImmediate(flush);
    }
}

process.on('disconnect', () => process.exit(0)); // the parent went away: never linger
process.on('message', (m) => {
    if (m.type === 'report') {
        process.send({ type: 'report', ...rec });
        rec.ids = [];
        rec.claim = [];
        rec.start = [];
        rec.commit = [];
        rec.unclaimed = 0;
    } else if (m.type === 'stop') {
        stop().then(() => process.exit(0), (e) => {
            console.error(e);
            process.exit(1);
        });
    }
});

let stop = async () => {};

if (system === 'bullmq') {
    const { Worker } = await import('bullmq');
    const { default: IORedis } = await import('ioredis');
    const connection = new IORedis(url, { maxRetriesPerRequest: null });
    const worker = new Worker(
        'bench',
        async (job) => {
            const t = now();
            claims.set(job.id, t);
            starts.set(job.id, t);
            return { sum: job.data.num1 + job.data.num2 };
        },
        { connection, concurrency },
    );
    worker.on('completed', (job) => committed(job.id, now()));
    worker.on('failed', (job, err) => console.error(`bullmq job ${job?.id} failed: ${err}`));
    worker.on('error', (err) => console.error(`bullmq worker: ${err}`));
    await worker.waitUntilReady();
    stop = async () => {
        await worker.close();
        await connection.quit();
    };
} else if (system === 'graphile') {
    const { default: pg } = await import('pg');
    // Observe claims and completions at the driver: rows coming back from the get-jobs query,
    // and the DELETE of job rows (completeJob, batched or not) resolving.
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function (config, values, callback) {
        const p = query.call(this, config, values, callback);
        if (callback !== undefined || typeof values === 'function' || !p || typeof p.then !== 'function') {
            return p;
        }
        const text = typeof config === 'string' ? config : config?.text;
        if (typeof text !== 'string') return p;
        if (/^\s*(with j as \(\s*)?delete from\s+\S*_private_jobs/i.test(text)) {
            const v = (typeof config === 'object' && config.values) || values;
            const ids = Array.isArray(v[0]) ? v[0] : [v[0]];
            return p.then((r) => {
                const t = now();
                for (const id of ids) committed(id, t);
                return r;
            });
        }
        if (/_private_jobs/.test(text) && /locked_by/.test(text) && /skip locked/i.test(text)) {
            return p.then((r) => {
                const t = now();
                for (const row of r.rows ?? []) if (row.id != null) claims.set(String(row.id), t);
                return r;
            });
        }
        return p;
    };
    const { run, Logger } = await import('graphile-worker');
    const logger = new Logger(() => (level, message) => {
        if (level === 'error' || level === 'warning') console.error(`graphile-worker ${level}: ${message}`);
    });
    const localQueue = Number(process.env.QB_LOCAL_QUEUE ?? -1);
    const batchDelay = Number(process.env.QB_BATCH_DELAY ?? -1);
    const pgPool = new pg.Pool({
        connectionString: url,
        max: concurrency + 1,
        options: process.env.QB_PG_OPTIONS || undefined,
    });
    pgPool.on('error', (err) => console.error(`pg pool: ${err}`));
    pgPool.on('connect', (client) => client.on('error', (err) => console.error(`pg client: ${err}`)));
    const runner = await run({
        pgPool,
        concurrency,
        noHandleSignals: true,
        logger,
        taskList: {
            sum: async (payload, helpers) => {
                starts.set(String(helpers.job.id), now());
                return { sum: payload.num1 + payload.num2 };
            },
        },
        preset: {
            worker: {
                localQueue: { size: localQueue },
                completeJobBatchDelay: batchDelay,
                failJobBatchDelay: batchDelay,
            },
        },
    });
    stop = async () => {
        await runner.stop();
        await pgPool.end();
    };
} else {
    console.error(`worker.mjs: unknown QB_SYSTEM ${system}`);
    process.exit(2);
}
process.send({ type: 'ready' });
