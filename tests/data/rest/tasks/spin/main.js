function main(input) {
  for (;;) {}
}
