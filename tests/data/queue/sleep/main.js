async function main(input) {
    await new Promise((resolve) => setTimeout(resolve, input.ms || 0));
    return { tag: input.tag === undefined ? null : input.tag };
}
