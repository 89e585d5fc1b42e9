// Drives the unmodified npm socket.io-client against a live elizabus server, as the elizaOS web
// client does, and prints what happened as one JSON object for the Python test to check.
// Usage: node scenario.cjs '{"url", "transports", "alice", "bob", "channelId", "serverId"}'
const { io } = require("socket.io-client");

const config = JSON.parse(process.argv[2]);
const options = config.transports ? { transports: config.transports } : {};
const report = { events: {}, errors: [] };

function client(name, entityId) {
  const socket = io(config.url, { ...options, auth: { entityId }, reconnection: false });
  const seen = (report.events[name] = []);
  socket.onAny((event, data) => seen.push([event, data]));
  return socket;
}

function waitFor(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${event}`)), ms);
    socket.once(event, (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const alice = client("alice", config.alice);
  const bob = client("bob", config.bob);
  await Promise.all([waitFor(alice, "connection_established"), waitFor(bob, "connection_established")]);

  // Join both ways: the generic envelope (the web client) and the numeric event.
  alice.emit("message", { type: 1, payload: { channelId: config.channelId, roomId: config.channelId, entityId: config.alice } });
  await waitFor(alice, "room_joined");
  // The server answers the join before it acknowledges the event.
  const bobJoined = waitFor(bob, "room_joined");
  const ack = await bob.timeout(5000).emitWithAck("1", { channelId: config.channelId });
  report.ack = ack === undefined ? null : ack;
  await bobJoined;

  // Let a few heartbeats pass (the live server pings every 300 ms) and the upgrade finish.
  await sleep(1500);
  report.transports = { alice: alice.io.engine.transport.name, bob: bob.io.engine.transport.name };

  const bobGets = waitFor(bob, "messageBroadcast");
  const aliceAck = waitFor(alice, "messageAck");
  alice.emit("message", {
    type: 2,
    payload: {
      senderId: config.alice,
      senderName: "Alice",
      message: "Hello, Eliza",
      channelId: config.channelId,
      roomId: config.channelId,
      serverId: config.serverId,
      messageId: "client-msg-1",
      source: "client_chat",
      attachments: [],
      metadata: { channelType: "GROUP" },
    },
  });
  await Promise.all([bobGets, aliceAck]);
  // Bob sends too, large but within the 1 MiB frame: it crosses every transport intact.
  const text = "é".repeat(20000);
  const aliceGets = waitFor(alice, "messageBroadcast");
  bob.emit("2", { senderId: config.bob, message: text, channelId: config.channelId, messageServerId: config.serverId, messageId: "client-msg-2" });
  report.bigIntact = (await aliceGets).text === text;
  await sleep(300);

  // A refused handshake.
  const stranger = io(config.url, { ...options, auth: { entityId: "not-a-uuid" }, reconnection: false });
  report.connectError = await new Promise((resolve) => stranger.on("connect_error", (err) => resolve(err.message)));
  stranger.close();

  alice.close();
  bob.close();
}

main()
  .catch((err) => report.errors.push(String(err && err.stack ? err.stack : err)))
  .finally(() => {
    // Exit only once the pipe has taken everything: process.exit() would cut it at 64 KiB.
    process.stdout.write(JSON.stringify(report), () => process.exit(0));
  });
