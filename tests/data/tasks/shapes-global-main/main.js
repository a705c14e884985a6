const k = 10;
function main(input) { return { n: input.n + k }; }
