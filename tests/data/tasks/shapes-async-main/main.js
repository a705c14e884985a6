async function main(input) {
  const v = await new Promise((r) => setTimeout(() => r(input.n), 5));
  return { n: v };
}
