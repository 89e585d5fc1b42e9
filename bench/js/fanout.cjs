#!/usr/bin/env node
// Socket.IO fan-out driver for bench/fanout.py: one Node process runs every socket, so the client
// costs the same against both servers.
//
//   node bench/js/fanout.cjs '{"url":"http://127.0.0.1:8000","channelId":"…","serverId":"…"}'
//
// N receiver sockets (socket.io-client, transports ['websocket'], one Manager each) join one
// channel; one more socket, the sender, sends M messages at R per second on a fixed schedule
// (send i is due at t0 + i/R; a late timer does not shift later sends). The text of message i is
// "fanout <tag> <i>", so a receiver finds the send time of what it got in this process's own
// table (one clock, no clock skew). A latency is send → `messageBroadcast` receipt, per
// (message, receiver). Lines of JSON go to stdout: {"event":"start"} and {"event":"end"} frame
// the timed phase (the Python side reads the server's CPU time there), then {"event":"result"}.
'use strict';

const { io } = require('socket.io-client');
const { randomUUID } = require('node:crypto');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const cfg = Object.assign(
  {
    url: 'http://127.0.0.1:8000',
    channelId: '00000000-0000-0000-0000-000000000000',
    serverId: '00000000-0000-0000-0000-000000000000',
    clients: 100,
    messages: 200,
    rate: 50,
    warmup: 20, // untimed messages first, same rate, same path
    drainMs: 5000, // how long to wait for stragglers after the last send
    settleMs: 500, // extra wait after everything arrived, to see duplicates
    connectBatch: 25, // sockets connecting at once
    sendVia: 'message', // 'message' → message{type:2,payload}; '2' → the literal event "2"
    joinVia: 'message',
    textPad: 0, // extra characters in each message's text
    entityIds: null, // receivers' entity ids (a channel whose participants they are); else random
    senderId: null,
    waitGo: false, // print {"event":"ready"} and wait for a line on stdin before the timed phase
  },
  JSON.parse(process.argv[2] || '{}'),
);

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, monotonic
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const TAG = randomUUID().slice(0, 8);
const PAD = cfg.textPad > 0 ? ' ' + 'x'.repeat(cfg.textPad) : '';

function openSocket(entityId) {
  return io(cfg.url, {
    transports: ['websocket'],
    forceNew: true, // one connection per socket, not one multiplexed Manager
    reconnection: false, // a dropped socket must show as lost messages, not reconnect quietly
    auth: { entityId },
    timeout: 20000,
  });
}

function connect(socket) {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

function join(socket, entityId) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('join timed out')), 20000);
    socket.once('channel_joined', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('messageError', (err) => {
      clearTimeout(timer);
      reject(new Error(`join refused: ${JSON.stringify(err)}`));
    });
    const payload = {
      channelId: cfg.channelId,
      roomId: cfg.channelId,
      entityId,
      messageServerId: cfg.serverId,
    };
    if (cfg.joinVia === '1') socket.emit('1', payload);
    else socket.emit('message', { type: 1, payload });
  });
}

function quantiles(values) {
  const v = Float64Array.from(values).sort();
  const q = (f) => (v.length ? v[Math.max(0, Math.min(v.length - 1, Math.ceil(f * v.length) - 1))] : null);
  const mean = v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  return { n: v.length, mean, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: v.length ? v[v.length - 1] : null };
}

async function main() {
  const N = cfg.clients;
  const M = cfg.messages;
  const W = cfg.warmup;
  // Timed messages are 0..M-1; warm-up ones are M..M+W-1 (sent first).
  const total = M + W;
  const sentAt = new Float64Array(total).fill(NaN);
  const counts = new Uint16Array(total * N);
  const latency = new Float64Array(M * N).fill(NaN);
  let received = 0;
  let receivedWarm = 0;
  let foreign = 0; // messageBroadcast events that are not ours
  let lastReceipt = 0;
  let disconnects = 0;
  const errors = [];

  const receivers = [];
  const connectStarted = now();
  for (let start = 0; start < N; start += cfg.connectBatch) {
    const batch = [];
    for (let i = start; i < Math.min(N, start + cfg.connectBatch); i++) {
      const entityId = (cfg.entityIds && cfg.entityIds[i]) || randomUUID();
      const socket = openSocket(entityId);
      const index = i;
      socket.on('messageBroadcast', (data) => {
        const t = now();
        const parts = typeof data?.text === 'string' ? data.text.split(' ', 3) : [];
        if (parts[0] !== 'fanout' || parts[1] !== TAG) {
          foreign++;
          return;
        }
        const seq = Number(parts[2]);
        counts[seq * N + index]++;
        if (seq >= M) {
          receivedWarm++;
          return;
        }
        received++;
        lastReceipt = t;
        if (counts[seq * N + index] === 1) latency[seq * N + index] = t - sentAt[seq];
      });
      socket.on('disconnect', (reason) => {
        disconnects++;
        if (errors.length < 10) errors.push(`receiver ${index} disconnected: ${reason}`);
      });
      receivers.push(socket);
      batch.push(connect(socket).then(() => join(socket, entityId)));
    }
    await Promise.all(batch);
  }
  const connectMs = now() - connectStarted;

  // The sender: its own socket, not joined (it gets its own copy and an ack directly).
  const senderId = cfg.senderId || randomUUID();
  const sender = openSocket(senderId);
  await connect(sender);
  const acks = [];
  const echoes = [];
  const ackedAt = new Float64Array(total).fill(NaN);
  sender.on('messageAck', (data) => {
    const seq = Number(String(data?.clientMessageId || '').split(':')[2]);
    if (seq < M) acks.push(now() - sentAt[seq]);
    if (seq >= 0) ackedAt[seq] = now();
  });
  sender.on('messageBroadcast', (data) => {
    const seq = Number(String(data?.clientMessageId || '').split(':')[2]);
    if (seq >= 0 && seq < M) echoes.push(now() - sentAt[seq]);
  });
  sender.on('messageError', (err) => {
    if (errors.length < 10) errors.push(`sender messageError: ${JSON.stringify(err)}`);
  });

  function send(seq) {
    const payload = {
      channelId: cfg.channelId,
      roomId: cfg.channelId,
      senderId,
      senderName: 'bench-sender',
      message: `fanout ${TAG} ${seq}${PAD}`,
      messageServerId: cfg.serverId,
      serverId: cfg.serverId,
      messageId: `bench:${TAG}:${seq}`,
      source: 'bench',
    };
    sentAt[seq] = now();
    if (cfg.sendVia === '2') sender.emit('2', payload);
    else sender.emit('message', { type: 2, payload });
  }

  // Sends seqs [from, to) at cfg.rate on a fixed schedule; returns how late the timers ran.
  async function schedule(seqs) {
    const interval = 1000 / cfg.rate;
    const t0 = now() + 5;
    const lag = [];
    for (let k = 0; k < seqs.length; k++) {
      const due = t0 + k * interval;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      lag.push(Math.max(0, now() - due));
      send(seqs[k]);
    }
    return lag;
  }

  async function waitFor(predicate, ms) {
    const deadline = now() + ms;
    while (!predicate() && now() < deadline) await sleep(10);
  }

  // Warm-up: same path, untimed.
  if (W > 0) {
    await schedule(Array.from({ length: W }, (_, k) => M + k));
    await waitFor(() => receivedWarm >= W * N, cfg.drainMs);
    await sleep(200);
  }

  if (cfg.waitGo) {
    out({ event: 'ready' });
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  out({ event: 'start' });
  const phaseStart = now();
  const lag = await schedule(Array.from({ length: M }, (_, k) => k));
  const lastSend = now();
  await waitFor(() => received >= M * N, cfg.drainMs);
  const drained = now();
  out({ event: 'end' });
  await sleep(cfg.settleMs); // late duplicates
  const cpu1 = process.cpuUsage(cpu0);
  loop.disable();

  let unique = 0;
  let duplicates = 0;
  for (let seq = 0; seq < M; seq++) {
    for (let i = 0; i < N; i++) {
      const c = counts[seq * N + i];
      if (c > 0) unique++;
      if (c > 1) duplicates += c - 1;
    }
  }
  const lat = [];
  const spread = []; // per message: last receiver's latency minus the first's
  const firstPerMsg = [];
  const lastPerMsg = [];
  for (let seq = 0; seq < M; seq++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < N; i++) {
      const x = latency[seq * N + i];
      if (!Number.isNaN(x)) {
        lat.push(x);
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
    }
    if (hi >= lo) {
      spread.push(hi - lo);
      firstPerMsg.push(lo);
      lastPerMsg.push(hi);
    }
  }
  const wall = (lastReceipt || drained) - phaseStart;
  out({
    event: 'result',
    clients: N,
    messages: M,
    rate: cfg.rate,
    expected: M * N,
    received,
    unique,
    duplicates,
    lost: M * N - unique,
    latencyMs: quantiles(lat),
    firstReceiverMs: quantiles(firstPerMsg),
    lastReceiverMs: quantiles(lastPerMsg),
    spreadMs: quantiles(spread),
    senderEchoMs: quantiles(echoes),
    senderAckMs: quantiles(acks),
    deliveriesPerSec: unique / (wall / 1000),
    sendSpanMs: lastSend - phaseStart,
    deliverSpanMs: wall,
    scheduleLagMs: quantiles(lag),
    clientCpuMs: (cpu1.user + cpu1.system) / 1000,
    clientLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    connectMs,
    foreign,
    disconnects,
    errors,
  });
  for (const socket of receivers) socket.disconnect();
  sender.disconnect();
  await sleep(100);
  process.exit(0);
}

main().catch((err) => {
  out({ event: 'error', error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
