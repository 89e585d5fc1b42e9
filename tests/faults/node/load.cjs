// Socket users for the fault-injection run: each connects (auth {entityId}), joins the channel
// (type 1 ROOM_JOINING), sends (type 2 SEND_MESSAGE) every `sendEveryMs` while joined, and keeps
// the id of every messageBroadcast it receives. After a disconnect socket.io-client reconnects
// by itself; the client then joins again with `lastMessageId`, the last id it received, so the
// server resends what it missed. Stops sending after `durationMs`, listens on, and
// prints one JSON report once `stopFile` exists. Usage: node load.cjs '{"url", "users": [...],
// "channelId", "serverId", "durationMs", "listenMs", "sendEveryMs", "joinedFile", "stopFile"}'
const fs = require("node:fs");
const { io } = require("socket.io-client");

const config = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function user(entityId, index) {
  const state = { entityId, seen: [], acked: [], sent: 0, joins: 0, resumes: 0, connectErrors: 0, disconnects: 0, joined: false, errors: [] };
  const socket = io(config.url, {
    auth: { entityId },
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 5000,
  });
  const seenIds = new Set();
  const join = () => {
    const payload = { channelId: config.channelId, roomId: config.channelId, entityId };
    const last = state.seen[state.seen.length - 1];
    if (last) {
      payload.lastMessageId = last;
      state.resumes += 1;
    }
    state.joins += 1;
    socket.emit("message", { type: 1, payload });
  };
  socket.on("connection_established", join);
  socket.on("room_joined", () => (state.joined = true));
  socket.on("disconnect", () => {
    state.joined = false;
    state.disconnects += 1;
  });
  socket.on("connect_error", () => (state.connectErrors += 1));
  socket.on("messageBroadcast", (data) => {
    if (data && data.id && !seenIds.has(data.id)) {
      seenIds.add(data.id);
      state.seen.push(data.id);
    }
  });
  socket.on("messageAck", (data) => state.acked.push(data.messageId));
  socket.on("messageError", (data) => state.errors.push(data && data.error));
  let counter = 0;
  const send = () => {
    if (!state.joined || !socket.connected) return;
    counter += 1;
    state.sent += 1;
    socket.emit("message", {
      type: 2,
      payload: {
        senderId: entityId,
        senderName: `User ${index}`,
        message: `Socket user ${index} says number ${counter}.`,
        channelId: config.channelId,
        roomId: config.channelId,
        serverId: config.serverId,
        messageId: `fault-${index}-${counter}`,
        source: "client_chat",
        attachments: [],
        metadata: { channelType: "GROUP" },
      },
    });
  };
  return { socket, state, send };
}

async function main() {
  const users = config.users.map(user);
  // Everyone joined before the load: what the channel stores from now on, each should see.
  const deadline = Date.now() + 30000;
  while (!users.every((u) => u.state.joined)) {
    if (Date.now() > deadline) throw new Error("not every socket joined");
    await sleep(50);
  }
  fs.writeFileSync(config.joinedFile, "joined");
  const stopAt = Date.now() + config.durationMs;
  let turn = 0;
  while (Date.now() < stopAt) {
    users[turn % users.length].send();
    turn += 1;
    await sleep(config.sendEveryMs / users.length);
  }
  // Listen on until the test has seen the system quiesce (at most `listenMs`): a socket still
  // reconnecting gets what it missed when it joins again.
  const listenEnd = Date.now() + config.listenMs;
  while (!fs.existsSync(config.stopFile) && Date.now() < listenEnd) await sleep(100);
  await sleep(1000);
  for (const u of users) u.socket.close();
  return users.map((u) => u.state);
}

main()
  .then((users) => process.stdout.write(JSON.stringify({ users, errors: [] }), () => process.exit(0)))
  .catch((err) =>
    process.stdout.write(JSON.stringify({ users: [], errors: [String(err && err.stack ? err.stack : err)] }), () => process.exit(0)),
  );
