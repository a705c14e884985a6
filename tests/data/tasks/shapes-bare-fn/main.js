function(input) {
  return { n: input.n + 1 };
}
