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

// The same with schemas on, as the task path runs it: ajv (pinned in bench/package.json)
// validates the input and the output against the task's own schema files.
const taskDir = process.argv[3];
if (taskDir) {
  const fs = require('fs');
  const path = require('path');
  const Ajv = require(path.join(__dirname, '..', 'node_modules', 'ajv'));
  const ajv = new Ajv({strict: false});
  const inSchema = ajv.compile(JSON.parse(fs.readFileSync(path.join(taskDir, 'input.schema.json'), 'utf8')));
  const outSchema = ajv.compile(JSON.parse(fs.readFileSync(path.join(taskDir, 'output.schema.json'), 'utf8')));
  const taskScript = new vm.Script(fs.readFileSync(path.join(taskDir, 'main.js'), 'utf8'), {filename: 'main.js'});
  const callTask = new vm.Script('JSON.stringify(__fn(JSON.parse(__input), ' +
      '{executionId: "bench", taskId: "addition", taskVersion: "1.0.0", jobId: null}))');
  const onceTask = () => {
    if (!inSchema(JSON.parse(input))) throw new Error('input invalid');
    const ctx = vm.createContext({__input: input});
    ctx.__fn = taskScript.runInContext(ctx);
    const out = callTask.runInContext(ctx);
    if (!outSchema(JSON.parse(out))) throw new Error('output invalid');
    return out;
  };
  for (let i = 0; i < warmup; i++)
    if (onceTask() !== '{"sum":8}') throw new Error('wrong result');
  const tl = new Float64Array(n);
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    onceTask();
    tl[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const tw = Number(process.hrtime.bigint() - w0) / 1000 / n;
  const tc = process.cpuUsage(c0);
  tl.sort();
  console.log(`node ${process.version} vm + ajv (schemas on, fresh context per run): p50 ${tl[n >> 1].toFixed(0)} us, ` +
      `p99 ${tl[Math.floor(n * 0.99)].toFixed(0)} us per run; ${tw.toFixed(0)} us wall, ` +
      `${((tc.user + tc.system) / n).toFixed(0)} us CPU per run; ${n} runs`);
}
