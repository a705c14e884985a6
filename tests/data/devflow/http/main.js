// Test data: a task that calls HTTP APIs with the standard fetch; its tests mock them.
async function main(input) {
  switch (input.scenario) {
  case 'several': {
    const users = await (await fetch('https://api.example.test/users?page=1')).json();
    const stats = await (await fetch('https://api.example.test/stats')).json();
    const note = await (await fetch('https://notes.example.test/v2/note/42')).text();
    return { users: users.length, stats, note };
  }
  case 'sequence': {
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const r = await fetch('https://queue.example.test/next');
      seen.push((await r.json()).item);
    }
    return { seen };
  }
  case 'post': {
    const r = await fetch('https://api.example.test/items', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Api-Key': 'k-123' },
      body: JSON.stringify({ name: input.name }),
    });
    return { status: r.status, created: await r.json() };
  }
  case 'error-response': {
    const r = await fetch('https://api.example.test/broken');
    return { ok: r.ok, status: r.status, statusText: r.statusText, body: await r.text() };
  }
  case 'exact-first': {
    const r = await fetch('https://api.example.test/v1/thing?id=1');
    return await r.json();
  }
  case 'headers': {
    const r = await fetch('https://api.example.test/limits');
    return { rate: r.headers.get('x-rate-remaining'), type: r.headers.get('content-type'), body: await r.json() };
  }
  case 'caught':
    try {
      await fetch('https://untracked.example.test/ping');
      return { caught: false };
    } catch (e) {
      return { caught: true, name: e.name };
    }
  case 'delete':
    return { status: (await fetch('https://api.example.test/items/9', { method: 'DELETE' })).status };
  default:
    throw new Error('unknown scenario ' + input.scenario);
  }
}
