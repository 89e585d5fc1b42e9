/*
 * A small Socket.IO client for the elizabus chat page: Socket.IO v5 over Engine.IO v4, on the
 * WebSocket transport only (no long-polling, so no sticky sessions are needed for the page).
 *
 * What it speaks (see docs/realtime.md):
 *   Engine.IO  0{handshake} open · 2 ping -> 3 pong · 4<socket.io packet> message · 1 close
 *   Socket.IO  40{auth} connect -> 40{sid} ack or 44{message} connect_error
 *              42["event", data] events both ways · 41 disconnect
 *
 * On top of the protocol it does what a chat page needs and the elizaOS web client does not:
 * it reconnects with exponential backoff, and after every reconnect it joins again each
 * channel the page joined, passing the id of the last message seen there (`lastMessageId`), so
 * the server resends what was missed before live messages (SPEC A5).
 *
 * Usage:
 *   const socket = new SocketIOClient(location.origin, {auth: () => ({entityId})});
 *   socket.on("messageBroadcast", (data) => ...);
 *   socket.connect();
 *   socket.join({channelId, roomId: channelId, entityId});
 *   socket.emit("message", {type: 2, payload: {...}});
 *
 * Exposed as window.SocketIOClient: a classic script, so it works whatever the static files
 * storage does to file names (no relative module imports to rewrite).
 */
(function (global) {
  "use strict";

  // Engine.IO v4 packet types.
  const EIO_OPEN = "0";
  const EIO_CLOSE = "1";
  const EIO_PING = "2";
  const EIO_PONG = "3";
  const EIO_MESSAGE = "4";

  // Socket.IO v5 packet types.
  const SIO_CONNECT = "0";
  const SIO_DISCONNECT = "1";
  const SIO_EVENT = "2";
  const SIO_CONNECT_ERROR = "4";

  // The elizaOS SOCKET_MESSAGE_TYPE for joining a channel.
  const ROOM_JOINING = 1;

  // Emits made while disconnected wait here; a bound so a long outage cannot grow it forever.
  const MAX_BUFFERED = 200;

  class SocketIOClient {
    /**
     * @param {string} origin  e.g. window.location.origin
     * @param {object} options
     *   path: the Socket.IO path (default "/socket.io/")
     *   auth: an object, or a function returning one, sent with every CONNECT (read at each
     *         attempt, so a new API key or entity id applies to the next reconnect)
     *   reconnectionDelay, reconnectionDelayMax: backoff bounds in ms (default 1000, 15000)
     */
    constructor(origin, options = {}) {
      this.origin = origin;
      this.path = options.path || "/socket.io/";
      this.auth = options.auth || {};
      this.delayMin = options.reconnectionDelay ?? 1000;
      this.delayMax = options.reconnectionDelayMax ?? 15000;
      this.id = null;
      this.state = "disconnected"; // "connecting" | "connected" | "disconnected"
      this._wanted = false; // whether the page wants a connection (connect() until disconnect())
      this._ws = null;
      this._attempts = 0;
      this._reconnectTimer = null;
      this._heartbeatTimer = null;
      this._listeners = new Map();
      this._buffer = [];
      // channelId -> {payload, lastMessageId, lastCreatedAt}: what to join again on reconnect.
      this._channels = new Map();
    }

    get connected() {
      return this.state === "connected";
    }

    // --- listeners -----------------------------------------------------------------------------

    on(event, listener) {
      if (!this._listeners.has(event)) this._listeners.set(event, new Set());
      this._listeners.get(event).add(listener);
      return this;
    }

    off(event, listener) {
      this._listeners.get(event)?.delete(listener);
      return this;
    }

    _fire(event, ...args) {
      for (const listener of this._listeners.get(event) || []) {
        // One failing listener must not stop the others, nor the packet loop.
        try {
          listener(...args);
        } catch (error) {
          console.error(`socket listener for ${event} failed`, error);
        }
      }
    }

    // --- connection ----------------------------------------------------------------------------

    /** Opens the connection now (also cutting a pending reconnect delay short). */
    connect() {
      this._wanted = true;
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      if (!this._ws) this._open();
      return this;
    }

    /** Cuts a pending reconnect delay short (the browser is back online, say). */
    reconnectNow() {
      if (this._wanted && !this._ws) this.connect();
    }

    /** Closes the connection and stops reconnecting until connect() is called again. */
    disconnect() {
      this._wanted = false;
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      if (this._ws) {
        if (this.connected) this._raw(EIO_MESSAGE + SIO_DISCONNECT);
        this._drop("io client disconnect");
      }
      return this;
    }

    _open() {
      const url = new URL(this.path, this.origin);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("EIO", "4");
      url.searchParams.set("transport", "websocket");
      this.state = "connecting";
      const ws = new WebSocket(url.href);
      this._ws = ws;
      ws.onmessage = (event) => this._onFrame(ws, event.data);
      // An error is always followed by a close; the close does the work.
      ws.onclose = () => {
        if (ws === this._ws) this._drop("transport close");
      };
    }

    /** Forgets the current WebSocket, tells the page, and schedules a reconnect if wanted. */
    _drop(reason, reconnect = true) {
      const ws = this._ws;
      const wasConnected = this.connected;
      this._ws = null;
      this.id = null;
      this.state = "disconnected";
      clearTimeout(this._heartbeatTimer);
      if (ws) {
        ws.onmessage = ws.onclose = null;
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      }
      if (wasConnected) this._fire("disconnect", reason);
      if (reconnect && this._wanted) this._scheduleReconnect();
    }

    _scheduleReconnect() {
      if (this._reconnectTimer) return;
      // Exponential backoff with +-50% jitter, so many pages do not return in one wave after a
      // server restart.
      const base = Math.min(this.delayMax, this.delayMin * 2 ** this._attempts);
      const delay = Math.round(base * (0.5 + Math.random()));
      this._attempts += 1;
      this._fire("reconnecting", { attempt: this._attempts, delay });
      this._reconnectTimer = setTimeout(() => {
        this._reconnectTimer = null;
        if (this._wanted && !this._ws) this._open();
      }, delay);
    }

    _armHeartbeat() {
      // Engine.IO v4: the server pings every pingInterval; no ping within pingInterval +
      // pingTimeout means the connection is dead even if the WebSocket has not noticed.
      clearTimeout(this._heartbeatTimer);
      this._heartbeatTimer = setTimeout(
        () => this._drop("ping timeout"),
        this._pingInterval + this._pingTimeout,
      );
    }

    // --- receiving -----------------------------------------------------------------------------

    _onFrame(ws, data) {
      if (ws !== this._ws || typeof data !== "string" || !data) return;
      const type = data[0];
      if (type === EIO_OPEN) {
        const handshake = JSON.parse(data.slice(1));
        this._pingInterval = handshake.pingInterval || 25000;
        this._pingTimeout = handshake.pingTimeout || 20000;
        this._armHeartbeat();
        const auth = typeof this.auth === "function" ? this.auth() : this.auth;
        this._raw(EIO_MESSAGE + SIO_CONNECT + JSON.stringify(auth || {}));
      } else if (type === EIO_PING) {
        this._armHeartbeat();
        this._raw(EIO_PONG);
      } else if (type === EIO_MESSAGE) {
        this._onPacket(data.slice(1));
      } else if (type === EIO_CLOSE) {
        this._drop("transport close");
      }
    }

    _onPacket(text) {
      const type = text[0];
      let rest = text.slice(1);
      // A namespace other than "/" is not ours; an ack id (digits) is not used by this server.
      if (rest[0] === "/") {
        const comma = rest.indexOf(",");
        if (rest.slice(0, comma < 0 ? undefined : comma) !== "/") return;
        rest = comma < 0 ? "" : rest.slice(comma + 1);
      }
      rest = rest.replace(/^\d+/, "");
      let data;
      try {
        data = rest ? JSON.parse(rest) : undefined;
      } catch {
        this._drop("parse error");
        return;
      }
      if (type === SIO_CONNECT) {
        this.id = data && data.sid;
        this.state = "connected";
        this._attempts = 0;
        this._fire("connect");
        this._rejoin();
        this._flush();
      } else if (type === SIO_CONNECT_ERROR) {
        // Close first and retry after the listeners ran: one may call disconnect() to stop
        // retrying (a wrong API key will not get better by itself).
        this._drop("connect_error", false);
        this._fire("connect_error", new Error((data && data.message) || "connect_error"));
        if (this._wanted) this._scheduleReconnect();
      } else if (type === SIO_DISCONNECT) {
        // Like socket.io-client: a disconnect the server asked for is not retried by itself.
        this._wanted = false;
        this._drop("io server disconnect");
      } else if (type === SIO_EVENT && Array.isArray(data) && typeof data[0] === "string") {
        if (data[0] === "messageBroadcast") this._noteBroadcast(data[1]);
        this._fire(data[0], ...data.slice(1));
      }
    }

    // --- sending -------------------------------------------------------------------------------

    _raw(text) {
      if (this._ws && this._ws.readyState === WebSocket.OPEN) this._ws.send(text);
    }

    /** Emits an event; while disconnected it waits and goes out after the next connect. */
    emit(event, ...args) {
      const packet = EIO_MESSAGE + SIO_EVENT + JSON.stringify([event, ...args]);
      if (this.connected) {
        this._raw(packet);
      } else if (this._buffer.length < MAX_BUFFERED) {
        this._buffer.push(packet);
      } else {
        return false;
      }
      return true;
    }

    _flush() {
      const waiting = this._buffer;
      this._buffer = [];
      for (const packet of waiting) this._raw(packet);
    }

    // --- channels ------------------------------------------------------------------------------

    /**
     * Joins a channel (elizaOS ROOM_JOINING) now or at the next connect, and again after every
     * reconnect. `payload` is {channelId, roomId, entityId, ...}.
     */
    join(payload) {
      const known = this._channels.get(payload.channelId);
      this._channels.set(payload.channelId, { ...(known || {}), payload });
      if (this.connected) this._sendJoin(payload.channelId);
    }

    /** Stops joining a channel again on reconnect (the protocol has no "leave" event). */
    forget(channelId) {
      this._channels.delete(channelId);
    }

    joined(channelId) {
      return this._channels.has(channelId);
    }

    /** Records a message the page saw (e.g. from the REST history) for the next resume. */
    markSeen(channelId, messageId, createdAt) {
      const channel = this._channels.get(channelId);
      // Keep the newest by time: a re-broadcast of an edited older message must not move the
      // resume point back (that would only resend duplicates, but it is wasted work).
      if (!channel || !messageId) return;
      if (channel.lastCreatedAt != null && createdAt != null && createdAt < channel.lastCreatedAt) {
        return;
      }
      channel.lastMessageId = messageId;
      channel.lastCreatedAt = createdAt ?? channel.lastCreatedAt;
    }

    _noteBroadcast(data) {
      if (!data || !data.id) return;
      this.markSeen(data.channelId || data.roomId, data.id, data.createdAt);
    }

    _rejoin() {
      for (const channelId of this._channels.keys()) this._sendJoin(channelId);
    }

    _sendJoin(channelId) {
      const channel = this._channels.get(channelId);
      const payload = { ...channel.payload };
      if (channel.lastMessageId) payload.lastMessageId = channel.lastMessageId;
      this._raw(
        EIO_MESSAGE + SIO_EVENT + JSON.stringify(["message", { type: ROOM_JOINING, payload }]),
      );
    }
  }

  global.SocketIOClient = SocketIOClient;
})(window);
