function main(input) {
    for (;;) {}
}
