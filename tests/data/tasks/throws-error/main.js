function main(input) {
  const x = input.missing;
  return x.field;
}
