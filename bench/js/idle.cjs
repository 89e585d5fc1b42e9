#!/usr/bin/env node
// Idle Socket.IO connections for bench/idle_memory.py: one Node process opens N sockets
// (socket.io-client, transports ['websocket'], one Manager each), each with its own entity id,
// connects and joins one channel, then holds them open and idle.
//
//   node bench/js/idle.cjs '{"url":"http://127.0.0.1:8000","clients":500,"channelId":"…"}'
//
// Protocol on stdio, one JSON object per line on stdout:
//   {"event":"ready", connected, joined, failed, connectMs}   every socket connected and joined
// then each line read on stdin is a command: "close" disconnects every socket and answers
// {"event":"closed"}; "exit" (or end of input) exits.
'use strict';

const { io } = require('socket.io-client');
const { randomUUID } = require('node:crypto');
const readline = require('node:readline');

const cfg = Object.assign(
  {
    url: 'http://127.0.0.1:8000',
    channelId: '00000000-0000-0000-0000-000000000000',
    serverId: '00000000-0000-0000-0000-000000000000',
    clients: 500,
    batch: 25,
  },
  JSON.parse(process.argv[2] || '{}'),
);

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const now = () => Number(process.hrtime.bigint()) / 1e6;

function openAndJoin(entityId) {
  const socket = io(cfg.url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: { entityId },
    timeout: 20000,
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ socket, ok: false, error: 'timeout' }), 30000);
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      resolve({ socket, ok: false, error: `connect_error: ${err.message}` });
    });
    socket.once('messageError', (err) => {
      clearTimeout(timer);
      resolve({ socket, ok: false, error: `messageError: ${JSON.stringify(err)}` });
    });
    socket.once('channel_joined', () => {
      clearTimeout(timer);
      resolve({ socket, ok: true });
    });
    socket.once('connect', () => {
      socket.emit('message', {
        type: 1,
        payload: {
          channelId: cfg.channelId,
          roomId: cfg.channelId,
          entityId,
          messageServerId: cfg.serverId,
        },
      });
    });
  });
}

async function main() {
  const sockets = [];
  const errors = [];
  let joined = 0;
  const started = now();
  for (let start = 0; start < cfg.clients; start += cfg.batch) {
    const batch = [];
    for (let i = start; i < Math.min(cfg.clients, start + cfg.batch); i++) {
      batch.push(openAndJoin((cfg.entityIds && cfg.entityIds[i]) || randomUUID()));
    }
    for (const result of await Promise.all(batch)) {
      sockets.push(result.socket);
      if (result.ok) joined++;
      else if (errors.length < 10) errors.push(result.error);
    }
  }
  let dropped = 0;
  for (const socket of sockets) socket.on('disconnect', () => dropped++);
  out({
    event: 'ready',
    clients: cfg.clients,
    connected: sockets.filter((s) => s.connected).length,
    joined,
    failed: cfg.clients - joined,
    connectMs: now() - started,
    errors,
  });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = line.trim();
    if (command === 'status') {
      out({ event: 'status', connected: sockets.filter((s) => s.connected).length, dropped });
    } else if (command === 'close') {
      for (const socket of sockets) socket.disconnect();
      sockets.length = 0;
      await new Promise((resolve) => setTimeout(resolve, 200));
      out({ event: 'closed', dropped });
    } else if (command === 'exit') {
      break;
    }
  }
  for (const socket of sockets) socket.disconnect();
  setTimeout(() => process.exit(0), 100);
}

main().catch((err) => {
  out({ event: 'error', error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
