// The peer of tests/helpers/schema_bench.c: ajv (pinned in bench/package.json) validating the
// same instance with the same schema in Node. Prints one JSON line in the same shape; like the
// C side it counts validations per second of CPU time (process.cpuUsage: user + system, all
// of Node's threads, so garbage collection counts too).
// Usage: node ajv_bench.mjs NAME SCHEMA INSTANCE [SECONDS] [REPS]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const [name, schemaPath, instancePath, secondsArg, repsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 1);
const reps = Number(repsArg ?? 5);
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
const instance = JSON.parse(readFileSync(instancePath, "utf8"));

const dialects = {
  "https://json-schema.org/draft/2020-12/schema": "ajv/dist/2020",
  "https://json-schema.org/draft/2019-09/schema": "ajv/dist/2019",
};
const Ajv = require(dialects[schema.$schema] ?? "ajv").default;
const ajv = new Ajv({ strict: false });
const validate = ajv.compile(schema);

let valid = validate(instance);
const rates = [];
for (let r = 0; r < reps; r++) {
  let n = 0;
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const start = cpu();
  let now;
  do {
    for (let k = 0; k < 64; k++) valid = validate(instance) && valid;
    n += 64;
    now = cpu();
  } while (now - start < seconds);
  rates.push(n / (now - start));
}
const runs = rates.map(Math.round);
const median = [...rates].sort((a, b) => a - b)[Math.floor(reps / 2)];
console.log(JSON.stringify({ name, valid, runs, median: Math.round(median) }));
process.exit(valid ? 0 : 1);
