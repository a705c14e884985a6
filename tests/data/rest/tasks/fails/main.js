function main(input) {
  console.error('about to fail');
  throw new ValidationError('this task always fails: ' + (input.why || 'no reason'));
}
