function helper(n) { return n * 3; }
function run(input) { return { n: helper(input.n) }; }
run;
