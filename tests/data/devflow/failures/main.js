// Test data for `ratchet test`: each test in tests/ drives one branch through input.op.
function main(input) {
  switch (input.op) {
  case 'add':
    return { sum: input.a + input.b, op: 'add' };
  case 'profile':
    return { user: { name: input.name, id: 7, tags: ['a', 'b'] }, created: '2026-01-01', version: 3 };
  case 'fail':
    throw new ValidationError('bad op: ' + input.reason);
  case 'http':
    throw new HttpError(503, 'upstream down');
  case 'log':
    console.log('hello from the task');
    console.warn('careful <now> & then');
    return { logged: true };
  default:
    return { echo: input };
  }
}
