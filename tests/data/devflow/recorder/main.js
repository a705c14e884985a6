// Test data for --record and replay: several requests to a server the test starts
// (input.base), a JSON POST, a binary answer and a form POST.
async function main(input) {
  const base = input.base;
  const users = await (await fetch(base + '/users?page=1&q=a%20b')).json();
  const created = await (await fetch(base + '/items', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: input.name }),
  })).json();
  const bin = new Uint8Array(await (await fetch(base + '/binary')).arrayBuffer());
  const form = await fetch(base + '/form', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'a=1&b=two',
  });
  console.log('fetched', users.users.length, 'users');
  return { users: users.users, created, binarySum: bin.reduce((s, x) => s + x, 0), form: await form.text() };
}
