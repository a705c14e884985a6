// The peer beside `GET /health`: Node's own http server answering a small JSON object, on one
// core like ratchet's HTTP threads share two. It shows what this machine gives a minimal
// server, so the ratchet figures can be read against it.
import http from 'node:http';
const server = http.createServer((req, res) => {
  const body = JSON.stringify({ status: 'healthy', timestamp: new Date().toISOString() });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
