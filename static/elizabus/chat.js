/*
 * The elizabus web chat: plain JavaScript, no build step, talking to the server exactly as an
 * elizaOS client does (REST under /api, Socket.IO at /socket.io/).
 *
 * - Who you are: a random entity id kept in localStorage, and an editable display name.
 * - What you see: the history of a channel over REST (newest first on the wire, drawn oldest at
 *   the top), then live `messageBroadcast`s, de-duplicated by message id.
 * - Sending goes over the socket (SEND_MESSAGE); "thinking…" shows until the channel's
 *   `messageComplete`, or a timeout.
 * - An agent's reply grows as it streams (`messageStreamChunk`, keyed by the reply's id): one
 *   bubble, replaced once by the stored reply's `messageBroadcast` with that id. A chunk with
 *   `index` 0 for a bubble already growing starts it again (its agent's worker died and another
 *   answers); `messageStreamError` drops the partial bubble (docs/realtime.md).
 * - API key: when the server wants one, it is asked for once and kept, as the elizaOS client
 *   does, in localStorage['eliza-api-key-<origin>'].
 *
 * All user content goes into the page through textContent, never as HTML.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const ORIGIN = window.location.origin;
  const API_KEY_STORAGE = `eliza-api-key-${ORIGIN}`;
  const ENTITY_STORAGE = "elizabus-entity-id";
  const NAME_STORAGE = "elizabus-display-name";
  const PLACE_STORAGE = "elizabus-last-channel";
  const SEND_MESSAGE = 2;
  const ROOM_JOINING = 1;
  const HISTORY_PAGE = 50;
  const MAX_CONTENT_BYTES = 64 * 1024;
  // A sent message with no echo by then is shown as not delivered (its echo may still come).
  const ECHO_TIMEOUT_MS = 20000;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  const $ = (id) => document.getElementById(id);
  const ui = {
    connection: $("connection"),
    name: $("display-name"),
    keyButton: $("api-key-button"),
    servers: $("server-select"),
    channels: $("channel-list"),
    agents: $("agent-list"),
    myId: $("my-id"),
    title: $("channel-title"),
    kind: $("channel-kind"),
    notice: $("notice"),
    scroller: $("messages-scroll"),
    older: $("load-older"),
    messages: $("messages"),
    empty: $("empty"),
    thinking: $("thinking"),
    composer: $("composer"),
    input: $("message-input"),
    send: $("send-button"),
    keyDialog: $("api-key-dialog"),
    keyForm: $("api-key-form"),
    keyReason: $("api-key-reason"),
    keyInput: $("api-key-input"),
    keyClear: $("api-key-clear"),
    keyCancel: $("api-key-cancel"),
  };

  // --- storage and identity ---------------------------------------------------------------------

  // localStorage throws in some privacy modes; the page then works for this visit only.
  const memory = new Map();
  const store = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch {
        return memory.get(key) ?? null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch {
        memory.set(key, value);
      }
    },
    remove(key) {
      try {
        window.localStorage.removeItem(key);
      } catch {
        memory.delete(key);
      }
    },
  };

  function uuid4() {
    // crypto.randomUUID exists only in secure contexts; plain http on a LAN address is not one.
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const parts = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20)];
    return [...parts, hex.slice(20)].join("-");
  }

  const me = { id: store.get(ENTITY_STORAGE), name: "" };
  if (!me.id || !UUID.test(me.id)) {
    me.id = uuid4();
    store.set(ENTITY_STORAGE, me.id);
  }
  me.name = store.get(NAME_STORAGE) || `User-${me.id.slice(0, 4)}`;

  const apiKey = () => store.get(API_KEY_STORAGE) || "";

  // --- state ------------------------------------------------------------------------------------

  const state = {
    serverId: null,
    channels: new Map(), // id -> channel, for the selected server
    channel: null, // the channel on screen
    agents: new Map(), // id -> agent
    hasAgent: false, // whether the channel on screen has an agent to wait for
    messages: new Map(), // id -> <li>, the channel on screen
    pending: new Map(), // client message id -> <li>, sent and not yet echoed
    mine: new Set(), // ids of our own stored messages, to recognise replies to them
    streams: new Map(), // reply id -> {item, text}, replies growing on screen
    oldest: null, // created_at (ms) of the oldest message drawn, for "load older"
    thinking: new Map(), // channel id -> timeout id
    unread: new Map(), // channel id -> count
    selecting: 0, // generation counter: a slow history load must not draw into a newer channel
  };

  // --- REST -------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (apiKey()) headers["X-API-KEY"] = apiKey();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(config.apiBase + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let payload = null;
    if (response.status !== 204) {
      try {
        payload = await response.json();
      } catch {
        payload = null;
      }
    }
    if (!response.ok || (payload && payload.success === false)) {
      // Errors are {error: {code, message}} here, a plain string from the reference: read both.
      const error = payload && payload.error;
      const message =
        (typeof error === "string" ? error : error && error.message) || `HTTP ${response.status}`;
      if (response.status === 401) askForApiKey(message);
      throw new ApiError(response.status, message);
    }
    return payload ? payload.data : null;
  }

  // --- small view helpers -----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  let noticeTimer = null;
  function notify(text, { sticky = false } = {}) {
    ui.notice.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(noticeTimer);
    if (!sticky) noticeTimer = setTimeout(() => (ui.notice.hidden = true), 8000);
  }

  function setConnection(stateName, text) {
    ui.connection.dataset.state = stateName;
    ui.connection.textContent = text;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dateFormat = new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });

  function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }

  function shortId(id) {
    return String(id || "").slice(0, 8);
  }

  // --- messages ---------------------------------------------------------------------------------

  /** One shape for a message, whether it came from the REST history or a socket broadcast. */
  function fromHistory(item) {
    const metadata = item.metadata || {};
    return {
      id: item.id,
      senderId: item.authorId,
      senderName: metadata.user_display_name || metadata.agentName || "",
      text: item.content,
      createdAt: item.created_at ?? Date.parse(item.createdAt),
      source: item.sourceType,
      sourceId: item.sourceId,
    };
  }

  function fromBroadcast(data) {
    return {
      id: data.id,
      senderId: data.senderId,
      senderName: data.senderName || "",
      text: data.text,
      createdAt: data.createdAt ?? Date.now(),
      source: data.source,
      // The sender's own copy names its client id; a resent copy (after a reconnect) does not,
      // but carries it as sourceId, the id under which the server stored the client's id.
      clientId: data.clientMessageId || data.sourceId,
      inReplyTo: data.inReplyToMessageId,
    };
  }

  function authorName(message) {
    if (message.senderId === me.id) return me.name;
    const agent = state.agents.get(message.senderId);
    return message.senderName || (agent && agent.name) || `User-${shortId(message.senderId)}`;
  }

  function messageItem(message, { pending = false } = {}) {
    const mine = message.senderId === me.id;
    const agent = state.agents.has(message.senderId) || message.source === "agent_response";
    const item = el("li", "message");
    item.classList.add(mine ? "mine" : agent ? "agent" : "other");
    if (pending) item.classList.add("pending");
    item.dataset.createdAt = String(message.createdAt);
    const meta = el("div", "meta");
    meta.append(el("span", "author", authorName(message)));
    const when = el("time", null, timeFormat.format(new Date(message.createdAt)));
    when.dateTime = new Date(message.createdAt).toISOString();
    when.title = dateFormat.format(new Date(message.createdAt));
    meta.append(when);
    item.append(meta, el("div", "text", message.text));
    return item;
  }

  /** Inserts in time order (almost always at the end), skipping ids already drawn. */
  function drawMessage(message, { pending = false } = {}) {
    if (message.id && state.messages.has(message.id)) return null;
    const item = messageItem(message, { pending });
    if (message.id) {
      item.dataset.id = message.id;
      state.messages.set(message.id, item);
    }
    let after = ui.messages.lastElementChild;
    while (after && Number(after.dataset.createdAt) > message.createdAt) {
      after = after.previousElementSibling;
    }
    const follow = nearBottom();
    if (after) after.after(item);
    else ui.messages.prepend(item);
    ui.empty.hidden = true;
    if (state.oldest == null || message.createdAt < state.oldest) state.oldest = message.createdAt;
    if (follow || message.senderId === me.id) scrollToBottom();
    return item;
  }

  function receive(message) {
    const stream = message.id && state.streams.get(message.id);
    if (stream) {
      // The stored reply ends its stream: it takes the growing bubble's place, once.
      state.streams.delete(message.id);
      state.messages.delete(message.id);
      const item = messageItem(message);
      item.dataset.id = message.id;
      state.messages.set(message.id, item);
      const follow = nearBottom();
      stream.item.replaceWith(item);
      if (follow) scrollToBottom();
      if (state.mine.has(message.inReplyTo)) stopThinking(state.channel.id);
      return;
    }
    const clientId = message.clientId;
    const sent = clientId && state.pending.get(clientId);
    if (sent) {
      // Our own message came back: the pending bubble becomes the stored message.
      state.pending.delete(clientId);
      sent.remove();
    }
    if (message.senderId === me.id) state.mine.add(message.id);
    if (state.agents.has(message.senderId) && state.mine.has(message.inReplyTo)) {
      // An agent answered us. Its messageComplete follows, unless the answer came back through
      // a resume after a reconnect, where the messageComplete is not replayed.
      stopThinking(state.channel.id);
    }
    drawMessage(message);
  }

  /** A piece of a reply: starts its bubble, grows it, or starts it again at index 0. */
  function receiveChunk(data) {
    const id = data.messageId;
    let stream = state.streams.get(id);
    if (!stream) {
      // Late pieces of a reply already drawn (they came after it) change nothing.
      if (state.messages.has(id)) return;
      const item = drawMessage({
        id,
        senderId: data.agentId,
        senderName: "",
        text: "",
        createdAt: Date.now(),
        source: "agent_response",
      });
      if (!item) return;
      item.classList.add("streaming");
      stream = { item, text: "" };
      state.streams.set(id, stream);
    }
    const follow = nearBottom();
    stream.text = data.index === 0 ? data.chunk : stream.text + data.chunk;
    stream.item.querySelector(".text").textContent = stream.text;
    if (follow) scrollToBottom();
  }

  /** A stream that ended without its reply: its partial text goes (a reply may still come). */
  function dropStream(messageId) {
    const stream = state.streams.get(messageId);
    if (!stream) return;
    state.streams.delete(messageId);
    state.messages.delete(messageId);
    stream.item.remove();
  }

  function clearMessages() {
    state.streams.clear();
    state.messages.clear();
    state.pending.clear();
    state.mine.clear();
    state.oldest = null;
    ui.messages.replaceChildren();
    ui.older.hidden = true;
    ui.empty.hidden = false;
  }

  // --- thinking ---------------------------------------------------------------------------------

  function startThinking(channelId) {
    clearTimeout(state.thinking.get(channelId));
    state.thinking.set(
      channelId,
      setTimeout(() => stopThinking(channelId), config.thinkingTimeoutMs),
    );
    showThinking();
  }

  function stopThinking(channelId) {
    clearTimeout(state.thinking.get(channelId));
    state.thinking.delete(channelId);
    showThinking();
  }

  function showThinking() {
    // The indicator takes room from the message list: keep the newest message in view.
    const follow = nearBottom();
    ui.thinking.hidden = !(state.channel && state.thinking.has(state.channel.id));
    if (follow) scrollToBottom();
  }

  // --- servers, channels, agents ----------------------------------------------------------------

  async function loadServers() {
    const data = await api("/messaging/message-servers");
    ui.servers.replaceChildren();
    for (const server of data.messageServers) {
      const option = el("option", null, server.name || shortId(server.id));
      option.value = server.id;
      ui.servers.append(option);
    }
  }

  async function loadAgents() {
    const data = await api("/agents");
    state.agents = new Map(data.agents.map((agent) => [agent.id, agent]));
    ui.agents.replaceChildren();
    for (const agent of data.agents) {
      const button = el("button", "nav-item agent-item", agent.name);
      button.type = "button";
      button.title = agent.enabled ? `Direct message ${agent.name}` : `${agent.name} is stopped`;
      button.classList.toggle("inactive", !agent.enabled);
      button.addEventListener("click", () => startDm(agent).catch(showError));
      const item = el("li");
      item.append(button);
      ui.agents.append(item);
    }
    if (!data.agents.length) ui.agents.append(el("li", "muted", "No agents registered."));
  }

  /** A DM channel's other party, from the one naming rule `DM-<id>-<id>` or its metadata. */
  function dmPartner(channel) {
    const metadata = channel.metadata || {};
    const ids = (channel.name.match(/[0-9a-f]{8}-[0-9a-f-]{27}/gi) || []).concat(
      [metadata.user1, metadata.user2, metadata.created_for_user, metadata.targetUserId].filter(
        Boolean,
      ),
    );
    if (!ids.includes(me.id)) return null;
    return ids.find((id) => id !== me.id) || null;
  }

  function channelLabel(channel) {
    if (channel.type === "DM") {
      const partner = dmPartner(channel);
      const agent = partner && state.agents.get(partner);
      return `@ ${agent ? agent.name : `User-${shortId(partner)}`}`;
    }
    return `# ${channel.name || shortId(channel.id)}`;
  }

  async function loadChannels(serverId) {
    const data = await api(`/messaging/message-servers/${serverId}/channels`);
    state.serverId = serverId;
    ui.servers.value = serverId;
    // Other people's DMs are listed by the API but cannot be joined: show only ours.
    const visible = data.channels.filter((c) => c.type !== "DM" || dmPartner(c));
    state.channels = new Map(visible.map((channel) => [channel.id, channel]));
    drawChannelList();
  }

  function drawChannelList() {
    ui.channels.replaceChildren();
    for (const channel of state.channels.values()) {
      const button = el("button", "nav-item", channelLabel(channel));
      button.type = "button";
      button.dataset.channelId = channel.id;
      if (state.channel && state.channel.id === channel.id) {
        button.setAttribute("aria-current", "true");
      }
      const unread = state.unread.get(channel.id);
      if (unread) button.append(el("span", "unread", String(unread)));
      button.addEventListener("click", () => selectChannel(channel).catch(showError));
      const item = el("li");
      item.append(button);
      ui.channels.append(item);
    }
    if (!state.channels.size) ui.channels.append(el("li", "muted", "No channels."));
  }

  async function selectChannel(channel) {
    const generation = ++state.selecting;
    state.channel = channel;
    state.unread.delete(channel.id);
    store.set(PLACE_STORAGE, JSON.stringify({ serverId: channel.messageServerId, id: channel.id }));
    ui.title.textContent = channelLabel(channel).slice(2);
    ui.kind.textContent = channel.type.toLowerCase();
    clearMessages();
    ui.notice.hidden = true;
    showThinking();
    drawChannelList();
    const participants = await api(`/messaging/channels/${channel.id}/participants`);
    if (generation !== state.selecting) return;
    state.hasAgent = participants.some((id) => state.agents.has(id) && id !== me.id);
    // The server lets a socket join the central channel and the channels its entity sits in.
    if (channel.id === config.centralChannelId || participants.includes(me.id)) {
      // Join before reading the history, so nothing falls between the two: what arrives live
      // meanwhile is drawn, and the history adds the rest around it (ids de-duplicate).
      if (!joins.joined(channel.id)) {
        joins.join({ channelId: channel.id, roomId: channel.id, entityId: me.id });
      }
    } else {
      notify("You are not a participant of this channel: live messages will not show.", {
        sticky: true,
      });
    }
    const history = await api(`/messaging/channels/${channel.id}/messages?limit=${HISTORY_PAGE}`);
    if (generation !== state.selecting) return;
    drawHistory(history.messages);
    scrollToBottom();
    ui.input.focus();
  }

  function drawHistory(items) {
    // The API answers newest first; each is drawn in time order wherever it belongs.
    for (const item of items) {
      if (item.authorId === me.id) state.mine.add(item.id);
      drawMessage(fromHistory(item));
    }
    ui.older.hidden = items.length < HISTORY_PAGE;
    for (const item of items) joins.markSeen(state.channel.id, item.seq);
  }

  async function loadOlder() {
    if (!state.channel || state.oldest == null) return;
    const channel = state.channel;
    const height = ui.scroller.scrollHeight;
    const history = await api(
      `/messaging/channels/${channel.id}/messages?limit=${HISTORY_PAGE}&before=${state.oldest}`,
    );
    if (state.channel !== channel) return;
    const top = ui.scroller.scrollTop;
    for (const item of history.messages) drawMessage(fromHistory(item));
    ui.older.hidden = history.messages.length < HISTORY_PAGE;
    // Keep the reader's place: the older messages appear above what they were reading.
    ui.scroller.scrollTop = top + (ui.scroller.scrollHeight - height);
  }

  async function startDm(agent) {
    const query = new URLSearchParams({ currentUserId: me.id, targetUserId: agent.id });
    const channel = await api(`/messaging/dm-channel?${query}`);
    // The DM is found again by name; make sure the agent still sits in it, or it never answers.
    const participants = await api(`/messaging/channels/${channel.id}/participants`);
    if (!participants.includes(agent.id)) {
      await api(`/messaging/channels/${channel.id}/agents`, {
        method: "POST",
        body: { agentId: agent.id },
      });
    }
    if (state.serverId !== channel.messageServerId || !state.channels.has(channel.id)) {
      await loadChannels(channel.messageServerId);
    }
    await selectChannel(state.channels.get(channel.id) || channel);
  }

  // --- sending ----------------------------------------------------------------------------------

  function sendMessage() {
    const text = ui.input.value.trim();
    const channel = state.channel;
    if (!text || !channel) return;
    if (new TextEncoder().encode(text).length > MAX_CONTENT_BYTES) {
      notify(`Messages are limited to ${MAX_CONTENT_BYTES / 1024} KiB.`);
      return;
    }
    const clientId = uuid4();
    const payload = {
      senderId: me.id,
      senderName: me.name,
      message: text,
      channelId: channel.id,
      roomId: channel.id,
      messageServerId: channel.messageServerId,
      messageId: clientId,
      source: "web_chat",
    };
    // The client buffers what is sent while it reconnects, and sends it once connected.
    socket.emit("message", { type: SEND_MESSAGE, payload });
    const item = drawMessage(
      { senderId: me.id, senderName: me.name, text, createdAt: Date.now() },
      { pending: true },
    );
    state.pending.set(clientId, item);
    setTimeout(() => {
      if (state.pending.get(clientId) === item) item.classList.replace("pending", "failed");
    }, ECHO_TIMEOUT_MS);
    ui.input.value = "";
    if (state.hasAgent) startThinking(channel.id);
  }

  // --- API key ----------------------------------------------------------------------------------

  function askForApiKey(reason) {
    if (ui.keyDialog.open) return;
    ui.keyReason.textContent = reason
      ? `The server refused the request: ${reason}. Enter its API key.`
      : "This server asks for an API key (its ELIZA_SERVER_AUTH_TOKEN).";
    ui.keyInput.value = apiKey();
    ui.keyDialog.showModal();
    ui.keyInput.focus();
  }

  function useApiKey(key) {
    if (key) store.set(API_KEY_STORAGE, key);
    else store.remove(API_KEY_STORAGE);
    // The socket reads the key at each CONNECT: reconnect now to present the new one.
    socket.disconnect();
    socket.connect();
    loadAll().catch(showError);
  }

  // --- errors -----------------------------------------------------------------------------------

  function showError(error) {
    console.error(error);
    if (error instanceof ApiError && error.status === 401) return; // the key dialog is up
    notify(error.message || String(error));
  }

  // --- the socket -------------------------------------------------------------------------------

  // The official Socket.IO browser client (vendor/socket.io.min.js, npm socket.io-client
  // 4.8.1), on the WebSocket transport only: no long-polling, so the page needs no sticky
  // sessions behind a proxy. It reads the key at each CONNECT (auth as a function).
  const socket = window.io(ORIGIN, {
    path: config.socketPath,
    transports: ["websocket"],
    autoConnect: false,
    reconnectionDelayMax: 15000,
    auth: (give) => give(apiKey() ? { entityId: me.id, apiKey: apiKey() } : { entityId: me.id }),
  });

  // What the elizaOS web client does not do: after every (re)connect, join again each channel
  // the page joined, with the seq up to which it has every message there (lastSeq), so the
  // server resends exactly what was missed before live messages (docs/realtime.md, "Offsets").
  // Broadcasts from several servers may come out of seq order: a seq beyond the next one waits
  // in "ahead" until the ones before it come (or a resume brings them).
  const joins = {
    channels: new Map(), // channel id -> {payload, seq, ahead}
    join(payload) {
      const known = this.channels.get(payload.channelId);
      const fresh = { seq: null, ahead: new Set() };
      this.channels.set(payload.channelId, { ...fresh, ...(known || {}), payload });
      if (socket.connected) this.send(payload.channelId);
    },
    forget(channelId) {
      this.channels.delete(channelId); // the protocol has no "leave"
    },
    joined(channelId) {
      return this.channels.has(channelId);
    },
    // The server's answer to a join: every message up to lastSeq is in its history or in the
    // resend that follows this answer; later ones come live.
    answered(channelId, lastSeq) {
      const channel = this.channels.get(channelId);
      if (!channel || typeof lastSeq !== "number") return;
      channel.seq = Math.max(channel.seq ?? 0, lastSeq);
      this.advance(channel);
    },
    markSeen(channelId, seq) {
      const channel = this.channels.get(channelId);
      if (!channel || typeof seq !== "number" || channel.seq == null || seq <= channel.seq) return;
      channel.ahead.add(seq);
      this.advance(channel);
    },
    advance(channel) {
      while (channel.ahead.has(channel.seq + 1)) channel.ahead.delete(++channel.seq);
      for (const seq of channel.ahead) if (seq <= channel.seq) channel.ahead.delete(seq);
    },
    send(channelId) {
      const channel = this.channels.get(channelId);
      const payload = { ...channel.payload };
      if (channel.seq != null) payload.lastSeq = channel.seq;
      socket.emit("message", { type: ROOM_JOINING, payload });
    },
  };

  const channelOf = (data) => data && (data.channelId || data.roomId);

  socket.on("connect", () => {
    setConnection("connected", "connected");
    for (const channelId of joins.channels.keys()) joins.send(channelId);
  });
  socket.on("disconnect", (reason) => {
    setConnection("disconnected", "disconnected");
    // The server asked us to go; come back later, not in a tight loop.
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 5000);
  });
  socket.io.on("reconnect_attempt", (attempt) => {
    setConnection("reconnecting", `reconnecting (attempt ${attempt})…`);
  });
  socket.on("connect_error", (error) => {
    if (/api key/i.test(error.message)) {
      // Retrying with the same key is pointless: wait for the user to enter one.
      socket.disconnect();
      setConnection("disconnected", "API key needed");
      askForApiKey(error.message);
    } else {
      setConnection("disconnected", `refused: ${error.message}`);
    }
  });

  socket.on("messageBroadcast", (data) => {
    const channelId = channelOf(data);
    if (data) joins.markSeen(channelId, data.seq);
    if (!state.channel || channelId !== state.channel.id) {
      // Still joined from an earlier visit: count it, do not draw it.
      if (state.channels.has(channelId)) {
        state.unread.set(channelId, (state.unread.get(channelId) || 0) + 1);
        drawChannelList();
      }
      return;
    }
    receive(fromBroadcast(data));
  });

  socket.on("channel_joined", (data) => {
    const channelId = channelOf(data);
    joins.answered(channelId, data && data.lastSeq);
    // Too much missed (or the offset unknown): the resend is the newest only; the page's
    // newest history page, read again, fills what it left out (ids de-duplicate).
    if (data && data.recovered === false && state.channel && state.channel.id === channelId) {
      api(`/messaging/channels/${channelId}/messages?limit=${HISTORY_PAGE}`)
        .then((history) => {
          if (state.channel && state.channel.id === channelId) drawHistory(history.messages);
        })
        .catch(showError);
    }
  });

  socket.on("messageComplete", (data) => stopThinking(channelOf(data)));

  socket.on("messageStreamChunk", (data) => {
    if (!data || !state.channel || channelOf(data) !== state.channel.id) return;
    if (typeof data.messageId !== "string" || typeof data.chunk !== "string") return;
    receiveChunk(data);
  });

  socket.on("messageStreamError", (data) => {
    if (!data || !state.channel || channelOf(data) !== state.channel.id) return;
    dropStream(data.messageId);
  });

  socket.on("messageError", (data) => {
    const error = (data && data.error) || "unknown error";
    if (data && data.agentId) {
      // An agent failed on a message of this channel (the bus's message:error).
      const agent = state.agents.get(data.agentId);
      stopThinking(channelOf(data));
      notify(`${agent ? agent.name : "An agent"} could not answer: ${error}`);
      return;
    }
    notify(error);
    if (/join|channelId and lastMessageId|lastSeq/i.test(error)) return;
    // A refused send: the socket handles events in order, so it is the oldest one waiting.
    const waiting = Array.from(state.pending).filter(([, li]) => li.classList.contains("pending"));
    const [clientId, item] = waiting[0] || [];
    if (item) {
      state.pending.delete(clientId);
      item.classList.replace("pending", "failed");
      item.title = error;
      if (state.channel) stopThinking(state.channel.id);
    }
  });

  socket.on("messageDeleted", (data) => {
    // Its seq is accounted for: the gap it leaves is not a message to wait for.
    if (data) joins.markSeen(channelOf(data), data.seq);
    const item = state.messages.get(data && data.messageId);
    if (item && state.channel && channelOf(data) === state.channel.id) {
      item.remove();
      state.messages.delete(data.messageId);
    }
  });

  socket.on("channelCleared", (data) => {
    if (state.channel && channelOf(data) === state.channel.id) clearMessages();
  });

  socket.on("channelUpdated", (data) => {
    if (state.serverId) loadChannels(state.serverId).catch(showError);
    if (state.channel && channelOf(data) === state.channel.id && data.updates?.name) {
      ui.title.textContent = data.updates.name;
    }
  });

  socket.on("channelDeleted", (data) => {
    const channelId = channelOf(data);
    joins.forget(channelId);
    if (state.channel && channelId === state.channel.id) {
      notify("This channel was deleted.");
      state.channel = null;
      openDefault().catch(showError);
    } else if (state.serverId) {
      loadChannels(state.serverId).catch(showError);
    }
  });

  // --- start ------------------------------------------------------------------------------------

  async function openDefault() {
    let place = null;
    try {
      place = JSON.parse(store.get(PLACE_STORAGE) || "null");
    } catch {
      place = null;
    }
    const serverIds = Array.from(ui.servers.options, (option) => option.value);
    const serverId =
      place && serverIds.includes(place.serverId) ? place.serverId : config.defaultServerId;
    await loadChannels(serverIds.includes(serverId) ? serverId : serverIds[0]);
    const channel =
      (place && state.channels.get(place.id)) ||
      state.channels.get(config.centralChannelId) ||
      state.channels.values().next().value;
    if (channel) await selectChannel(channel);
  }

  async function loadAll() {
    await Promise.all([loadServers(), loadAgents()]);
    await openDefault();
  }

  function wireInputs() {
    ui.myId.textContent = me.id;
    ui.name.value = me.name;
    ui.name.addEventListener("change", () => {
      me.name = ui.name.value.trim().slice(0, 64) || `User-${me.id.slice(0, 4)}`;
      ui.name.value = me.name;
      store.set(NAME_STORAGE, me.name);
    });
    ui.servers.addEventListener("change", async () => {
      try {
        await loadChannels(ui.servers.value);
        const first =
          state.channels.get(config.centralChannelId) || state.channels.values().next().value;
        if (first) await selectChannel(first);
      } catch (error) {
        showError(error);
      }
    });
    ui.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      sendMessage();
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendMessage();
      }
    });
    ui.older.addEventListener("click", () => loadOlder().catch(showError));
    ui.keyButton.addEventListener("click", () => askForApiKey());
    ui.keyForm.addEventListener("submit", () => useApiKey(ui.keyInput.value.trim()));
    ui.keyClear.addEventListener("click", () => {
      ui.keyDialog.close();
      useApiKey("");
    });
    ui.keyCancel.addEventListener("click", () => ui.keyDialog.close());
    // Back online: try at once instead of waiting out the backoff.
    window.addEventListener("online", () => {
      if (socket.active && !socket.connected) socket.connect();
    });
  }

  wireInputs();
  if (config.authRequired && !apiKey()) {
    // Saving the key connects and loads (useApiKey).
    setConnection("disconnected", "API key needed");
    askForApiKey();
  } else {
    socket.connect();
    loadAll().catch(showError);
  }
})();
