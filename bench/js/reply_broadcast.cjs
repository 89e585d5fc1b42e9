#!/usr/bin/env node
// How long after a REST post a socket in the channel gets the user's message and the agent's
// reply as `messageBroadcast` (bench/agents_latency.py --reply-broadcast). One socket joins the
// central channel; `posts` plain REST posts (no transport: the response does not wait for the
// agent) go out `gapMs` apart, each while the server is otherwise idle. Prints one JSON line:
// {"user": [ms...], "agent": [ms...]} (from each post's send, same clock).
'use strict';

const http = require('node:http');
const { io } = require('socket.io-client');
const { randomUUID } = require('node:crypto');

const cfg = Object.assign(
  {
    url: 'http://127.0.0.1:8000',
    channelId: '00000000-0000-0000-0000-000000000000',
    serverId: '00000000-0000-0000-0000-000000000000',
    posts: 20,
    gapMs: 1200,
  },
  JSON.parse(process.argv[2] || '{}'),
);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function post(index) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      author_id: randomUUID(),
      content: `I am unhappy (${index})`,
      message_server_id: cfg.serverId,
    });
    const url = new URL(`${cfg.url}/api/messaging/channels/${cfg.channelId}/messages`);
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on('end', resolve);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function main() {
  const socket = io(cfg.url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth: { entityId: randomUUID() },
  });
  await new Promise((resolve, reject) => {
    socket.once('connect_error', reject);
    socket.once('connect', () =>
      socket.emit('message', {
        type: 1,
        payload: { channelId: cfg.channelId, roomId: cfg.channelId, messageServerId: cfg.serverId },
      }),
    );
    socket.once('channel_joined', resolve);
  });
  const user = [];
  const agent = [];
  let sentAt = 0;
  socket.on('messageBroadcast', (data) => {
    const t = now() - sentAt;
    if (data.source === 'agent_response') agent.push(t);
    else user.push(t);
  });
  for (let i = 0; i < cfg.posts; i++) {
    sentAt = now();
    await post(i);
    await sleep(cfg.gapMs);
  }
  process.stdout.write(JSON.stringify({ user, agent }) + '\n');
  socket.disconnect();
  setTimeout(() => process.exit(0), 100);
}

const timer = setTimeout(() => process.exit(2), cfg.posts * (cfg.gapMs + 5000) + 30000);
main()
  .then(() => clearTimeout(timer))
  .catch((err) => {
    process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
    process.exit(1);
  });
