// Socket users for the fault-injection run: unmodified npm socket.io-client sockets on their
// default transports, through the proxy, that join channels, send messages, and after every
// reconnect join again with lastSeq: the seq up to which each has every message there (the
// join's lastSeq, then each seq it gets in order; one that comes early, from another server,
// or ahead of a broadcast still queued, waits for those before it).
// Stops sending at a line on its stdin; when its stdin closes, waits settleMs and prints what
// each socket saw as JSON, with the time (epoch ms) of each message and of each connection event,
// so that a miss can be placed against the faults and the servers' logs.
// Usage: node load.cjs '{"url", "channels": [ids], "serverId", "entityIds": [one per socket],
//                       "sendEveryMs", "settleMs"}'
const { io } = require("socket.io-client");
const { randomUUID } = require("node:crypto");

const config = JSON.parse(process.argv[2]);
let running = true;

function user(entityId, index) {
  const seen = {
    entityId, connects: 0, disconnects: [], acked: [], sent: 0, received: {}, receivedAt: {},
    first: {}, timeline: [], sends: [], ackedAt: {},
  };
  // [epoch ms, what, detail]: connects (Engine.IO sid, transport), upgrades, disconnects.
  const note = (what, detail) => seen.timeline.push([Date.now(), what, detail]);
  const offsets = {}; // channel id -> {seq, ahead}
  const advance = (offset) => {
    while (offset.ahead.has(offset.seq + 1)) offset.ahead.delete(++offset.seq);
    for (const seq of offset.ahead) if (seq <= offset.seq) offset.ahead.delete(seq);
  };
  const socket = io(config.url, { auth: { entityId }, reconnectionDelayMax: 2000 });
  const join = () => {
    seen.connects += 1;
    const engine = socket.io.engine;
    note("connect", `${engine.id} ${engine.transport.name}`);
    engine.once("upgrade", (transport) => note("upgrade", `${engine.id} ${transport.name}`));
    for (const channelId of config.channels) {
      const payload = { channelId, roomId: channelId, entityId };
      if (offsets[channelId]) payload.lastSeq = offsets[channelId].seq;
      socket.emit("message", { type: 1, payload });
    }
  };
  socket.on("connect", join);
  socket.on("disconnect", (reason) => {
    seen.disconnects.push(reason);
    note("disconnect", reason);
  });
  socket.on("channel_joined", (joined) => {
    note("joined", joined.channelId);
    // Everything up to lastSeq is before the join, or in the resend that follows.
    if (typeof joined.lastSeq !== "number") return;
    const offset = (offsets[joined.channelId] ||= { seq: 0, ahead: new Set() });
    offset.seq = Math.max(offset.seq, joined.lastSeq);
    advance(offset);
  });
  socket.on("messageError", (error) => {
    (seen.errors ||= []).push(error);
    (seen.errorsAt ||= []).push(Date.now());
  });
  socket.on("messageBroadcast", (data) => {
    const channel = data.channelId;
    (seen.received[channel] ||= []).push(data.id);
    (seen.receivedAt[channel] ||= []).push(Date.now());
    seen.first[channel] ||= data.id;
    const offset = offsets[channel];
    if (offset && typeof data.seq === "number" && data.seq > offset.seq) {
      offset.ahead.add(data.seq);
      advance(offset);
    }
  });
  socket.on("messageAck", (ack) => {
    seen.acked.push(ack.messageId);
    seen.ackedAt[ack.clientMessageId] = Date.now();
  });
  const timer = setInterval(() => {
    if (!running || !socket.connected) return;
    const channelId = config.channels[seen.sent % config.channels.length];
    seen.sent += 1;
    const messageId = randomUUID();
    // [client message id, epoch ms]: with ackedAt, each send's latency (availability).
    seen.sends.push([messageId, Date.now()]);
    socket.emit("message", {
      type: 2,
      payload: {
        channelId,
        senderId: entityId,
        senderName: `socket user ${index}`,
        message: `I need some help, that much seems certain (${index}.${seen.sent}).`,
        messageServerId: config.serverId,
        messageId,
        source: "faults",
      },
    });
  }, config.sendEveryMs);
  return { socket, seen, timer };
}

const users = config.entityIds.map(user);
const stopSending = () => {
  running = false;
  for (const { timer } of users) clearInterval(timer);
};
process.stdin.on("data", stopSending);
process.stdin.on("end", () => {
  stopSending();
  setTimeout(() => {
    for (const { socket } of users) socket.close();
    // Exit only once the pipe has taken everything: process.exit() would cut it at 64 KiB.
    process.stdout.write(JSON.stringify(users.map(({ seen }) => seen)), () => process.exit(0));
  }, config.settleMs);
});
