// console.* goes to the run's log (stderr for run-once), never into the output.
// context = { executionId, taskId, taskVersion, jobId } describes this run.
function main(input, context) {
  console.log('hello', input.name);
  console.info('running task', context.taskId, 'version', context.taskVersion);
  if (!input.name.trim()) {
    console.warn('an empty name');
  }
  return {
    greeting: `Hello, ${input.name}!`,
    taskVersion: context.taskVersion,
    hasExecutionId: typeof context.executionId === 'string' && context.executionId.length > 0,
  };
}
