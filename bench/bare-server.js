'use strict';
// The baseline: a bare node:http server answering every request with the same
// status line, headers and body the broker sent for one token request.
const http = require('node:http');

const config = JSON.parse(process.env.TB_BARE_CONFIG);
const body = Buffer.from(config.body, 'utf8');
const headers = [];
for (const [name, value] of config.headers) headers.push(name, value);
headers.push('content-length', String(body.length));

const server = http.createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
// Same keep-alive behaviour as the broker's Fastify server defaults.
server.keepAliveTimeout = 72_000;
server.listen(config.port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)) && server.closeAllConnections());
