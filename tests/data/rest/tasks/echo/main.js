(input) => ({ echoed: input })
