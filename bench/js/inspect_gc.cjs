#!/usr/bin/env node
// Forces a full garbage collection in a Node process started with --inspect=127.0.0.1:PORT and
// prints its process.memoryUsage() afterwards, as one line of JSON. For bench/idle_memory.py:
// the reference server's memory moves by tens of MiB as V8 collects start-up garbage, far more
// than 500 idle sockets weigh, so its readings are taken right after a full collection.
//
//   node bench/js/inspect_gc.cjs PORT
'use strict';

const http = require('node:http');
const WebSocket = require('ws');

const port = Number(process.argv[2]);

function targets() {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/json/list', timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch (err) {
            reject(err);
          }
        });
      })
      .on('error', reject);
  });
}

async function main() {
  const [target] = await targets();
  const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let next = 1;
  const pending = new Map();
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.id && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    }
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const answer = await call('Runtime.evaluate', {
    expression: 'JSON.stringify(process.memoryUsage())',
    returnByValue: true,
  });
  process.stdout.write(answer.result.result.value + '\n');
  ws.close();
}

const timer = setTimeout(() => {
  process.stderr.write('inspector timed out\n');
  process.exit(2);
}, 20000);
main()
  .then(() => {
    clearTimeout(timer);
    setTimeout(() => process.exit(0), 50);
  })
  .catch((err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
    process.exit(1);
  });
