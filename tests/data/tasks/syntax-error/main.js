function main(input) {
  return {a: 1,, b: 2};
}
