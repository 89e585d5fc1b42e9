// A streamed agent reply as the elizaOS web client sees it through the unmodified npm
// socket.io-client: Alice joins a DM with the agent and speaks; an outsider tries to join too.
// Prints every event each socket got, with the milliseconds since the start, as one JSON object.
// Usage: node stream.cjs '{"url", "alice", "outsider", "agentId", "channelId", "serverId"}'
const { io } = require("socket.io-client");

const config = JSON.parse(process.argv[2]);
const started = performance.now();
const report = { events: {}, errors: [] };

function client(name, entityId) {
  const socket = io(config.url, { auth: { entityId }, reconnection: false });
  const seen = (report.events[name] = []);
  socket.onAny((event, data) => seen.push([event, data, performance.now() - started]));
  return socket;
}

function waitFor(socket, event, test = () => true, ms = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    const handler = (data) => {
      if (!test(data)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(data);
    };
    socket.on(event, handler);
  });
}

async function main() {
  const alice = client("alice", config.alice);
  const outsider = client("outsider", config.outsider);
  await Promise.all([waitFor(alice, "connection_established"), waitFor(outsider, "connection_established")]);
  alice.emit("message", { type: 1, payload: { channelId: config.channelId, entityId: config.alice } });
  outsider.emit("message", { type: 1, payload: { channelId: config.channelId, entityId: config.outsider } });
  await Promise.all([waitFor(alice, "room_joined"), waitFor(outsider, "messageError")]);

  const reply = waitFor(alice, "messageBroadcast", (data) => data.senderId === config.agentId);
  alice.emit("message", {
    type: 2,
    payload: {
      senderId: config.alice,
      senderName: "Alice",
      message: "Tell me something",
      channelId: config.channelId,
      serverId: config.serverId,
      messageId: "client-stream-1",
      source: "client_chat",
      metadata: { channelType: "DM", isDm: true },
    },
  });
  await reply;
  await new Promise((resolve) => setTimeout(resolve, 300));
  alice.close();
  outsider.close();
}

main()
  .catch((error) => report.errors.push(String(error)))
  .finally(() => {
    process.stdout.write(JSON.stringify(report));
    process.exit(0);
  });
