#!/usr/bin/env node
// The elizaOS host: unmodified elizaOS characters and their plugins, each an AgentRuntime of
// @elizaos/core, answering as agents of an elizabus server from this process.
//
//   node host.mjs character.json [more.json ...]
//
// Each character is registered with elizabus as hosted outside (POST /api/agents), and its
// runtime attaches over the agent wire (docs/agents.md, "The agent wire"): a WebSocket that
// brings the agent's deliveries one at a time, to be acknowledged. A delivery becomes a Memory
// exactly as the reference's MessageBusService (@elizaos/server 1.7.2) maps it, the runtime
// answers through ElizaOS.handleMessage, its stream goes back as chunks, and the reply,
// /complete and the action badges go through the REST API as MessageBusService sends them.
//
// Environment: ELIZABUS_URL (http://127.0.0.1:8000), ELIZA_SERVER_AUTH_TOKEN (the API key),
// PGLITE_DATA_DIR (./.eliza/.elizadb), and whatever the characters' plugins read
// (OPENAI_API_KEY, OPENAI_BASE_URL, ...).

import fs from 'node:fs';
import path from 'node:path';

import { ChannelType, ElizaOS, createUniqueUuid, logger, stringToUuid, validateUuid } from '@elizaos/core';
import sqlPlugin, { DatabaseMigrationService, createDatabaseAdapter } from '@elizaos/plugin-sql';
import WebSocket from 'ws';

const BASE_URL = (process.env.ELIZABUS_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const API_KEY = process.env.ELIZA_SERVER_AUTH_TOKEN || '';
const DEFAULT_SERVER_ID = '00000000-0000-0000-0000-000000000000';
// Close codes after which attaching again cannot help (docs/agents.md).
const FATAL_CLOSES = { 4401: 'wrong API key', 4404: 'no such agent', 4409: 'not hosted outside', 4410: 'agent deleted' };
const BACKOFF_FIRST_MS = 200;
const BACKOFF_CAP_MS = 10_000;

const log = (fields, message) => logger.info({ src: 'elizabus-host', ...fields }, message);
const warn = (fields, message) => logger.warn({ src: 'elizabus-host', ...fields }, message);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function authHeaders() {
  const headers = { 'Content-Type': 'application/json' };
  if (API_KEY) headers['X-API-KEY'] = API_KEY;
  return headers;
}

async function api(method, urlPath, body) {
  const response = await fetch(`${BASE_URL}${urlPath}`, {
    method,
    headers: authHeaders(),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { raw: text };
  }
  return { status: response.status, ok: response.ok, data };
}

class Backoff {
  constructor() {
    this.failures = 0;
  }
  next() {
    const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** this.failures);
    this.failures += 1;
    return cap / 2 + Math.random() * (cap / 2);
  }
  reset() {
    this.failures = 0;
  }
}

/** Retries `attempt` with backoff while elizabus cannot be reached (a refused connection). */
async function whileUnreachable(what, attempt) {
  const backoff = new Backoff();
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TypeError)) throw error; // fetch's network failure
      const delay = backoff.next();
      warn({ what, error: error.cause?.code || error.message, retryInMs: Math.round(delay) }, 'elizabus unreachable');
      await sleep(delay);
    }
  }
}

/** The character as elizabus stores it: without its secrets. */
function publicCharacter(character) {
  const { secrets, settings, ...rest } = character;
  if (!settings) return rest;
  const { secrets: settingsSecrets, ...publicSettings } = settings;
  return { ...rest, settings: publicSettings };
}

async function register(character) {
  let found = await api('GET', `/api/agents/${character.id}`);
  if (found.status === 404) {
    const created = await api('POST', '/api/agents', { characterJson: publicCharacter(character), hostedOutside: true });
    if (created.ok) {
      log({ agentId: character.id, agentName: character.name }, 'Registered with elizabus');
      return;
    }
    // Another instance of the character, started at the same time, may have registered it
    // between the look-up and the POST: then it is this one's agent too.
    found = await api('GET', `/api/agents/${character.id}`);
    if (found.status === 404) throw new Error(`registering ${character.name}: ${created.status} ${JSON.stringify(created.data)}`);
  }
  if (!found.ok) throw new Error(`looking up ${character.name}: ${found.status} ${JSON.stringify(found.data)}`);
  if (!found.data?.data?.hostedOutside) {
    throw new Error(`agent ${character.name} (${character.id}) exists on elizabus and is answered there, not hosted outside`);
  }
}

/** One agent: its runtime, its wire to elizabus, and MessageBusService's mapping. */
class AgentLink {
  constructor(elizaOS, runtime) {
    this.elizaOS = elizaOS;
    this.runtime = runtime;
    this.agentId = runtime.agentId;
    this.name = runtime.character.name;
    this.subscribedServers = new Set([DEFAULT_SERVER_ID]);
    this.participantChannels = new Set();
    this.work = Promise.resolve();
    this.current = null;
    this.socket = null;
    this.closed = false;
    this.backoff = new Backoff();
    this.leaseSeconds = 30;
  }

  async start() {
    await this.fetchServers();
    this.listenToActions();
    this.connect();
  }

  async fetchServers() {
    const answer = await whileUnreachable('message servers', () =>
      api('GET', `/api/messaging/agents/${this.agentId}/message-servers`),
    );
    if (answer.ok && Array.isArray(answer.data?.data?.messageServers)) {
      this.subscribedServers = new Set(answer.data.data.messageServers);
    }
    this.subscribedServers.add(DEFAULT_SERVER_ID);
  }

  // --- the wire ---------------------------------------------------------------------------------
  connect() {
    if (this.closed) return;
    const url = `${BASE_URL.replace(/^http/, 'ws')}/api/agents/${this.agentId}/bus`;
    const socket = new WebSocket(url, { headers: API_KEY ? { 'X-API-KEY': API_KEY } : {} });
    this.socket = socket;
    socket.on('message', (data) => this.onFrame(JSON.parse(String(data))));
    socket.on('error', (error) => warn({ agentName: this.name, error: error.code || error.message }, 'Wire error'));
    socket.on('close', (code) => {
      if (this.socket === socket) this.socket = null;
      if (this.closed) return;
      if (FATAL_CLOSES[code]) {
        logger.error({ src: 'elizabus-host', agentName: this.name, code }, `elizabus refused the agent: ${FATAL_CLOSES[code]}`);
        this.closed = true;
        return;
      }
      const delay = this.backoff.next();
      warn({ agentName: this.name, code, retryInMs: Math.round(delay) }, 'Wire closed; attaching again');
      setTimeout(() => this.connect(), delay);
    });
  }

  send(frame) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  onFrame(frame) {
    switch (frame.type) {
      case 'welcome':
        this.backoff.reset();
        this.leaseSeconds = frame.leaseSeconds || this.leaseSeconds;
        log({ agentName: this.name, instanceId: frame.instanceId, enabled: frame.enabled }, 'Attached to elizabus');
        break;
      case 'deliver':
        // One at a time, in order: elizabus sends the next after this one's acknowledgement.
        this.work = this.work.then(() => this.handleDelivery(frame));
        break;
      case 'agent_update':
        log({ agentName: this.name, change: frame.change, enabled: frame.enabled }, 'Agent updated on elizabus');
        break;
      case 'stale':
        warn({ agentName: this.name, deliveryId: frame.deliveryId }, 'Delivery handed to another instance');
        break;
      default:
        warn({ agentName: this.name, frame }, 'Unexpected frame');
    }
  }

  async handleDelivery(frame) {
    const { deliveryId } = frame;
    log({ agentName: this.name, event: frame.event, attempt: frame.attempt, messageId: frame.data?.id }, 'Delivery');
    const extend = setInterval(() => this.send({ type: 'extend', deliveryId }), (this.leaseSeconds * 1000) / 3);
    let error = '';
    try {
      if (frame.event === 'new_message') error = await this.handleIncomingMessage(frame.data, deliveryId);
      else if (frame.event === 'message_deleted') await this.handleMessageDeleted(frame.data);
      else if (frame.event === 'channel_cleared') await this.handleChannelCleared(frame.data);
      else if (frame.event === 'server_agent_update') this.handleServerAgentUpdate(frame.data);
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
      logger.error({ src: 'elizabus-host', agentName: this.name, event: frame.event, error }, 'Delivery failed');
    } finally {
      clearInterval(extend);
    }
    this.send({ type: 'ack', deliveryId, error });
  }

  // --- MessageBusService's checks and mapping ---------------------------------------------------
  async isParticipant(channelId) {
    if (this.participantChannels.has(channelId)) return true;
    const answer = await api('GET', `/api/messaging/channels/${encodeURIComponent(channelId)}/participants`);
    const participants = answer.ok && Array.isArray(answer.data?.data) ? answer.data.data : [];
    if (participants.includes(this.agentId)) this.participantChannels.add(channelId);
    return participants.includes(this.agentId);
  }

  async ensureWorldAndRoomExist(message) {
    const agentWorldId = createUniqueUuid(this.runtime, message.message_server_id);
    const agentRoomId = createUniqueUuid(this.runtime, message.channel_id);
    await this.runtime.ensureWorldExists({
      id: agentWorldId,
      name: message.metadata?.serverName || `Server ${message.message_server_id.substring(0, 8)}`,
      agentId: this.agentId,
      messageServerId: message.message_server_id,
      metadata: { ...(message.metadata?.serverMetadata || {}) },
    });
    await this.runtime.ensureRoomExists({
      id: agentRoomId,
      name: message.metadata?.channelName || `Channel ${message.channel_id.substring(0, 8)}`,
      agentId: this.agentId,
      worldId: agentWorldId,
      channelId: message.channel_id,
      messageServerId: message.message_server_id,
      source: message.source_type || 'central-bus',
      type: message.metadata?.channelType || ChannelType.GROUP,
      metadata: { ...(message.metadata?.channelMetadata || {}) },
    });
    return { agentWorldId, agentRoomId };
  }

  async ensureAuthorEntityExists(message) {
    const entity = await this.runtime.getEntityById(message.author_id);
    if (!entity) {
      await this.runtime.createEntity({
        id: message.author_id,
        names: [message.author_display_name || `User-${message.author_id.substring(0, 8)}`],
        agentId: this.agentId,
        metadata: { source: message.source_type },
      });
    }
    return message.author_id;
  }

  /** Answers one message; returns the error to acknowledge with ('' when none). */
  async handleIncomingMessage(message, deliveryId) {
    if (!message?.id || !message.channel_id || !message.message_server_id || !message.author_id || !message.content || message.created_at === undefined) {
      warn({ agentName: this.name }, 'Message missing required fields');
      return '';
    }
    if (!(await this.isParticipant(message.channel_id))) return '';
    if (!this.subscribedServers.has(message.message_server_id)) return '';
    if (message.author_id === this.agentId) return '';

    const { agentWorldId, agentRoomId } = await this.ensureWorldAndRoomExist(message);
    const authorId = await this.ensureAuthorEntityExists(message);
    const memoryId = createUniqueUuid(this.runtime, `${message.id}-${this.agentId}`);
    if (await this.runtime.getMemoryById(memoryId)) return ''; // delivered again: answered before

    const content = {
      text: message.content,
      source: message.source_type || 'central-bus',
      attachments: message.metadata?.attachments?.map((att) => ({ id: att.id, url: att.url, title: att.name, contentType: att.type })),
      inReplyTo: message.in_reply_to_message_id ? createUniqueUuid(this.runtime, message.in_reply_to_message_id) : undefined,
    };
    const memory = {
      id: memoryId,
      entityId: authorId,
      roomId: agentRoomId,
      worldId: agentWorldId,
      content,
      createdAt: message.created_at,
      metadata: {
        ...(message.metadata || {}),
        type: 'message',
        source: message.source_type || 'central-bus',
        sourceId: message.id,
        raw: {
          ...(typeof message.raw_message === 'object' && message.raw_message !== null ? message.raw_message : {}),
          senderName: message.author_display_name || `User-${message.author_id.substring(0, 8)}`,
          senderId: message.author_id,
        },
      },
    };
    this.current = { message, agentRoomId, agentWorldId, memoryId };
    let error = '';
    let chunkIndex = 0;
    try {
      // handleMessage returns at once when onResponse is given: the answer is done at
      // onComplete (or onError). The reference posts /complete before the answer instead.
      await new Promise((resolve) => {
        this.elizaOS
          .handleMessage(this.agentId, memory, {
            onStreamChunk: async (chunk, messageId) => {
              if (messageId) this.send({ type: 'chunk', deliveryId, messageId, chunk, index: chunkIndex++ });
            },
            onResponse: async (response) => {
              await this.runtime.createMemory(
                { id: response.responseId, entityId: this.agentId, content: response, roomId: agentRoomId, worldId: agentWorldId, agentId: this.agentId },
                'messages',
              );
              await this.sendAgentResponseToBus(response, message);
            },
            onError: async (failure) => {
              error = failure?.message || String(failure);
              resolve();
            },
            onComplete: () => resolve(),
          })
          .catch((failure) => {
            error = failure?.message || String(failure);
            resolve();
          });
      });
    } finally {
      this.current = null;
    }
    await this.notifyMessageComplete(message.channel_id, message.message_server_id);
    return error;
  }

  channelHints(original, room) {
    const channelType = original?.metadata?.channelType || room?.type;
    return { channelType, isDm: original?.metadata?.isDm || channelType === ChannelType.DM };
  }

  async sendAgentResponseToBus(content, original) {
    const skip = content.actions?.includes('IGNORE') || !content.text || content.text.trim() === '';
    if (skip) return;
    const room = await this.runtime.getRoom(createUniqueUuid(this.runtime, original.channel_id));
    const answer = await api('POST', '/api/messaging/submit', {
      messageId: content.responseId,
      channel_id: original.channel_id,
      message_server_id: original.message_server_id,
      author_id: this.agentId,
      content: content.text,
      in_reply_to_message_id: original.id,
      source_type: 'agent_response',
      raw_message: { text: content.text, thought: content.thought, actions: content.actions },
      metadata: { agent_id: this.agentId, agentName: this.name, attachments: content.attachments, ...this.channelHints(original, room) },
    });
    if (answer.status === 409 && answer.data?.error?.code === 'ALREADY_ANSWERED') {
      log({ agentName: this.name, messageId: original.id }, 'Answered already by another instance');
      return;
    }
    if (!answer.ok) throw new Error(`submitting the reply: ${answer.status} ${JSON.stringify(answer.data)}`);
  }

  async notifyMessageComplete(channelId, messageServerId) {
    try {
      await api('POST', '/api/messaging/complete', { channel_id: channelId, message_server_id: messageServerId });
    } catch (failure) {
      warn({ agentName: this.name, error: failure.message }, 'Failed to notify completion');
    }
  }

  // --- action badges: the runtime's action events, as notifyActionStart/Update send them ------
  listenToActions() {
    this.runtime.registerEvent('ACTION_STARTED', (payload) => this.notifyAction('POST', payload));
    this.runtime.registerEvent('ACTION_COMPLETED', (payload) => this.notifyAction('PATCH', payload));
  }

  async notifyAction(method, payload) {
    const current = this.current;
    if (!current || payload?.roomId !== current.agentRoomId || !payload.messageId) return;
    const { message } = current;
    const content = payload.content || {};
    const room = await this.runtime.getRoom(current.agentRoomId);
    const metadata = { agent_id: this.agentId, agentName: this.name, attachments: content.attachments, ...this.channelHints(message, room) };
    const answer =
      method === 'POST'
        ? await api('POST', '/api/messaging/action', {
            messageId: payload.messageId,
            channel_id: message.channel_id,
            message_server_id: message.message_server_id,
            author_id: this.agentId,
            content: content.text,
            in_reply_to_message_id: message.id,
            source_type: 'agent_action',
            raw_message: { text: content.text, thought: content.thought, actions: content.actions, actionId: content.actionId, actionStatus: content.actionStatus || 'executing', type: content.type, ...content },
            metadata,
          })
        : await api('PATCH', `/api/messaging/action/${payload.messageId}`, {
            raw_message: { thought: content.thought, actions: content.actions, actionStatus: content.actionStatus, actionResult: content.actionResult, type: content.type, text: content.text },
            source_type: 'agent_action',
            in_reply_to_message_id: message.id,
            metadata: { ...metadata, actionStatus: content.actionStatus },
          });
    if (!answer.ok) warn({ agentName: this.name, method, status: answer.status }, 'Action badge refused');
  }

  // --- the other deliveries ---------------------------------------------------------------------
  async handleMessageDeleted(data) {
    // The reference looks the memory up by createUniqueUuid(runtime, messageId), which misses
    // since memories are keyed by `${messageId}-${agentId}` (SPEC B3); both are tried here.
    for (const id of [createUniqueUuid(this.runtime, `${data.messageId}-${this.agentId}`), createUniqueUuid(this.runtime, data.messageId)]) {
      const memory = await this.runtime.getMemoryById(id);
      if (memory) {
        await this.runtime.messageService.deleteMessage(this.runtime, memory);
        return;
      }
    }
  }

  async handleChannelCleared(data) {
    await this.runtime.messageService.clearChannel(this.runtime, createUniqueUuid(this.runtime, data.channelId), data.channelId);
  }

  handleServerAgentUpdate(data) {
    if (data.agentId !== this.agentId) return;
    if (data.type === 'agent_added_to_server') this.subscribedServers.add(data.messageServerId);
    else if (data.type === 'agent_removed_from_server') this.subscribedServers.delete(data.messageServerId);
  }

  close() {
    this.closed = true;
    this.socket?.close(1000);
  }
}

function loadCharacter(file) {
  const character = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!character.name) throw new Error(`${file}: a character needs a name`);
  character.id ??= stringToUuid(character.name);
  if (!validateUuid(character.id)) throw new Error(`${file}: id ${character.id} is not a UUID`);
  return character;
}

/** plugin-sql's schema, migrated before any runtime starts, as AgentServer does. */
async function migrateDatabase() {
  const dataDir = process.env.PGLITE_DATA_DIR || path.join(process.cwd(), '.eliza', '.elizadb');
  process.env.PGLITE_DATA_DIR = dataDir;
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  const database = createDatabaseAdapter({ dataDir, postgresUrl: process.env.POSTGRES_URL }, DEFAULT_SERVER_ID);
  await database.init();
  const migrations = new DatabaseMigrationService();
  await migrations.initializeWithDatabase(database.getDatabase());
  migrations.discoverAndRegisterPluginSchemas([sqlPlugin]);
  await migrations.runAllPluginMigrations();
  return database;
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node host.mjs character.json [more.json ...]');
    process.exit(2);
  }
  const characters = files.map(loadCharacter);
  const database = await migrateDatabase();
  for (const character of characters) await whileUnreachable(`registering ${character.name}`, () => register(character));

  const elizaOS = new ElizaOS();
  const ids = await elizaOS.addAgents(
    characters.map((character) => ({ character, plugins: [...(character.plugins || []), sqlPlugin] })),
  );
  await elizaOS.startAgents(ids);
  const links = [];
  for (const id of ids) {
    const runtime = elizaOS.getAgent(id);
    if (!(await database.getAgent(runtime.agentId))) await database.createAgent({ ...runtime.character, id: runtime.agentId });
    const link = new AgentLink(elizaOS, runtime);
    await link.start();
    links.push(link);
  }
  const stop = async (signal) => {
    log({ signal }, 'Stopping');
    for (const link of links) link.close();
    await elizaOS.stopAgents(ids).catch(() => {});
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  logger.error({ src: 'elizabus-host', error: error?.stack || String(error) }, 'The host failed');
  process.exit(1);
});
