// Many unmodified npm socket.io-client sockets through the proxy: each connects, joins a channel
// and waits for one message that this script posts over REST; prints what each saw as JSON.
// Usage: node clients.cjs '{"url", "count", "transports", "channelId", "serverId", "settleMs"}'
const { io } = require("socket.io-client");
const { randomUUID } = require("node:crypto");

const config = JSON.parse(process.argv[2]);
const options = config.transports ? { transports: config.transports } : {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function waitFor(socket, event, ms, accept = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    const listener = (data) => {
      if (!accept(data)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve(data);
    };
    socket.on(event, listener);
  });
}

const clients = [];
const report = { posted: null, errors: [], clients: [] };

async function main() {
  for (let i = 0; i < config.count; i++) {
    const entityId = randomUUID();
    const socket = io(config.url, { ...options, auth: { entityId }, reconnection: false });
    const seen = { connectErrors: [], disconnects: [], received: false, transport: null, upgraded: false };
    socket.on("connect_error", (err) => seen.connectErrors.push(err.message));
    socket.on("disconnect", (reason) => seen.disconnects.push(reason));
    socket.io.on("open", () => socket.io.engine.on("upgrade", () => (seen.upgraded = true)));
    clients.push({ socket, entityId, seen });
  }
  await Promise.all(clients.map(({ socket }) => waitFor(socket, "connection_established", 15000)));
  await Promise.all(
    clients.map(({ socket, entityId }) => {
      const joined = waitFor(socket, "room_joined", 10000);
      const payload = { channelId: config.channelId, roomId: config.channelId, entityId };
      socket.emit("message", { type: 1, payload });
      return joined;
    }),
  );
  // Several heartbeats (and, on the default transports, the upgrade) before the broadcast.
  await sleep(config.settleMs);

  const content = `through the proxy ${randomUUID()}`;
  const arrivals = clients.map(({ socket, seen }) =>
    waitFor(socket, "messageBroadcast", 10000, (data) => data.text === content).then(
      () => (seen.received = true),
      () => {},
    ),
  );
  const response = await fetch(`${config.url}/api/messaging/channels/${config.channelId}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      author_id: randomUUID(),
      content,
      message_server_id: config.serverId,
      // Answer at once: "http" would wait for the agent, and none runs here.
      transport: "websocket",
    }),
  });
  report.posted = response.status;
  if (!response.ok) report.errors.push(`POST: ${response.status} ${await response.text()}`);
  await Promise.all(arrivals);
}

main()
  .catch((err) => report.errors.push(String(err && err.stack ? err.stack : err)))
  .finally(() => {
    for (const { socket, seen } of clients) {
      const transport = socket.io.engine ? socket.io.engine.transport.name : null;
      report.clients.push({ ...seen, disconnects: [...seen.disconnects], transport });
    }
    for (const { socket } of clients) socket.close();
    // Exit only once the pipe has taken everything: process.exit() would cut it at 64 KiB.
    process.stdout.write(JSON.stringify(report), () => process.exit(0));
  });
