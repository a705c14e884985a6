function main(input) {
    const line = "x".repeat(1000);
    for (let i = 0; i < (input.lines || 0); i++) console.log(i, line);
    if (input.throw) throw new Error("y".repeat(input.throw));
    return { ok: true };
}
