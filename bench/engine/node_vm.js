// The peer of bench_engine.c: the same addition task, each run in a fresh context of Node's
// `vm` module (createContext, evaluate main.js, JSON.parse input inside the context, call,
// JSON.stringify output). Usage: node node_vm.js [runs]
'use strict';
const vm = require('vm');
const n = Math.max(100, Number(process.argv[2]) || 10000);
const code = 'function main(input) {\n    return { sum: input.num1 + input.num2 };\n}\n';
const input = '{"num1": 5, "num2": 3}';
const script = new vm.Script(code, {filename: 'main.js'});
const call = new vm.Script('JSON.stringify(main(JSON.parse(__input), ' +
    '{executionId: "bench", taskId: "addition", taskVersion: "1.0.0", jobId: null}))');

function once() {
    const ctx = vm.createContext({__input: input});
    script.runInContext(ctx);
    return call.runInContext(ctx);
}

const warmup = Math.max(200, Math.floor(n / 10));
for (let i = 0; i < warmup; i++)
    if (once() !== '{"sum":8}')
        throw new Error('wrong result');
const lat = new Float64Array(n);
const cpu0 = process.cpuUsage();
const wall0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    once();
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
}
const wall = Number(process.hrtime.bigint() - wall0) / 1000 / n;
const cpu = process.cpuUsage(cpu0);
lat.sort();
const mean = lat.reduce((a, b) => a + b, 0) / n;
console.log(`node ${process.version} vm (fresh context per run): p50 ${lat[n >> 1].toFixed(0)} us, ` +
    `p99 ${lat[Math.floor(n * 0.99)].toFixed(0)} us, mean ${mean.toFixed(0)} us per run; ` +
    `${wall.toFixed(0)} us wall, ${((cpu.user + cpu.system) / n).toFixed(0)} us CPU per run; ${n} runs`);
