function main(input) {
    if (input.fail) throw new Error("asked to fail");
    return { ok: true };
}
