function main(input) { return { ok: true }; }
