'use strict';
/** Minimal RESP client for INFO, MEMORY USAGE and ZRANGEBYSCORE: keeps the harness free of a store library. */
function redisClient(port) {
  const { connect } = require('node:net');
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let buffer = Buffer.alloc(0);
  const waiting = [];
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const parsed = parseResp(buffer, 0);
      if (parsed === null) return;
      buffer = buffer.subarray(parsed.end);
      const { resolve, reject } = waiting.shift();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    }
  });
  const ready = new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    async call(...args) {
      await ready;
      const parts = [`*${args.length}\r\n`];
      for (const arg of args) parts.push(`$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        socket.write(parts.join(''));
      });
    },
    close: () => socket.destroy(),
  };
}

function parseResp(buf, start) {
  if (start >= buf.length) return null;
  const lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buf[start]);
  const line = buf.toString('utf8', start + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: after };
    case '-':
      return { value: new Error(line), end: after };
    case ':':
      return { value: Number(line), end: after };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: after };
      if (buf.length < after + length + 2) return null;
      return { value: buf.toString('utf8', after, after + length), end: after + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: after };
      const items = [];
      let at = after;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buf, at);
        if (item === null) return null;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`RESP: unexpected type ${type}`);
  }
}

async function redisInfo(redis, section) {
  const text = await redis.call('INFO', section);
  const out = {};
  for (const line of text.split('\r\n')) {
    const index = line.indexOf(':');
    if (index > 0) out[line.slice(0, index)] = line.slice(index + 1);
  }
  return out;
}

module.exports = { redisClient, redisInfo };
