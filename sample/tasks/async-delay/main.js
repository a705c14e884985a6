// An async task: the engine awaits the returned Promise, running timers until it settles.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(input) {
  const started = Date.now();
  await sleep(input.delayMs);
  const words = await Promise.all(input.words.map(async (w) => w.toUpperCase()));
  return { words, waitedAtLeast: Date.now() - started >= input.delayMs };
}
