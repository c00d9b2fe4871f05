// One live room: the socket, its reconnection, and the room as this person sees it.
// Nothing is lost or shown twice: messages are kept by seq, a reconnect asks chat.history
// after the last seq, and a message typed while offline waits with its client_id until the
// room is back (the server stores a client_id once, so a resend is never a second message).
import { post } from "./api.js";
import { ERRORS, closeInfo } from "./protocol.js";

const PING_MS = 25000;
const RESEND_AFTER_RATE_LIMIT_MS = 5500;

function clientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Room extends EventTarget {
  constructor(sessionId) {
    super();
    this.sessionId = sessionId;
    this.ws = null;
    this.status = "connecting"; // connecting | open | reconnecting | closed
    this.notice = ""; // a plain sentence about the connection, or ""
    this.flash = ""; // a passing sentence (an error frame), or ""
    this.session = null;
    this.me = null;
    this.flags = {};
    this.participants = new Map();
    this.handOrder = [];
    this.messages = new Map(); // seq -> message
    this.lastSeq = 0;
    this.pending = new Map(); // client_id -> {client_id, text, failed}
    this.attempt = 0;
    this.everAdmitted = false;
    this.stopped = false;
    this.timer = null;
    this.pinger = null;
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  start() {
    this.connect();
    this.onOnline = () => {
      if (this.status === "reconnecting") {
        clearTimeout(this.timer);
        this.connect();
      }
    };
    window.addEventListener("online", this.onOnline);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    window.removeEventListener("online", this.onOnline);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.me !== null;
  }

  get admitted() {
    return this.me !== null && this.me.state === "admitted";
  }

  get isStaff() {
    return this.me !== null && this.me.role !== "patient";
  }

  async connect() {
    if (this.stopped) return;
    let ticket;
    try {
      ticket = (await post(`sessions/${this.sessionId}/ticket/`)).ticket;
    } catch (error) {
      if (this.stopped) return;
      if (error.status === 401) return this.finish("Your sign-in ended. Sign in again to rejoin.");
      if (error.status === 403 || error.status === 404) {
        return this.finish("This session is not open to you right now.");
      }
      return this.retry({ retry: "now", text: "The server cannot be reached. Reconnecting…" });
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(
      `${scheme}://${location.host}/ws/sessions/${this.sessionId}/?ticket=${encodeURIComponent(ticket)}`,
    );
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.pinger);
      this.onClose(event.code);
    });
  }

  onClose(code) {
    if (this.stopped || this.status === "closed") return;
    const info = closeInfo(code);
    if (!info.retry) return this.finish(info.text);
    this.retry(info);
  }

  retry(info) {
    this.status = "reconnecting";
    this.notice = info.text;
    const base = info.retry === "later" ? 5000 : 500;
    const cap = info.retry === "later" ? 30000 : 8000;
    const delay = Math.min(base * 2 ** this.attempt, cap) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
    this.changed();
  }

  finish(text) {
    this.status = "closed";
    this.notice = text;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
    this.changed();
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  onFrame(frame) {
    switch (frame.type) {
      case "room.state":
        return this.onState(frame);
      case "presence.joined":
      case "presence.updated":
        this.upsert(frame.participant);
        break;
      case "presence.left":
        this.participants.delete(frame.user_id);
        this.syncHands();
        break;
      case "chat.message":
        this.onMessage(frame);
        break;
      case "chat.history":
        for (const message of frame.messages) this.addMessage(message);
        if (frame.has_more && frame.messages.length) {
          this.send({ type: "chat.history", after_seq: frame.messages[frame.messages.length - 1].seq });
        }
        break;
      case "chat.deleted": {
        const message = this.messages.get(frame.seq);
        if (message) this.messages.set(frame.seq, { ...message, deleted: true, text: null });
        break;
      }
      case "room.updated":
        this.flags = frame.room;
        break;
      case "session.ended":
        return this.finish("This session has ended. Thank you for taking part.");
      case "error":
        this.onError(frame);
        break;
      case "pong":
        return;
      default:
        return;
    }
    this.changed();
  }

  onState(frame) {
    this.session = frame.session;
    this.me = frame.me;
    this.flags = frame.room;
    this.status = "open";
    this.notice = "";
    this.attempt = 0;
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
    if (frame.me.state === "admitted") {
      this.participants = new Map((frame.participants || []).map((p) => [p.user_id, p]));
      this.syncHands();
      const before = this.lastSeq;
      for (const message of frame.messages || []) this.addMessage(message);
      // Whatever was said while this page was away, after the last seq it had.
      if (this.everAdmitted && before > 0) this.send({ type: "chat.history", after_seq: before });
      this.everAdmitted = true;
      this.flushOutbox();
    } else {
      this.participants = new Map([[frame.me.user_id, frame.me]]);
      this.syncHands();
    }
    this.changed();
  }

  onMessage(message) {
    if (this.lastSeq > 0 && message.seq > this.lastSeq + 1) {
      // The channel layer dropped something: fetch the gap from the database.
      this.send({ type: "chat.history", after_seq: this.lastSeq });
    }
    this.addMessage(message);
  }

  addMessage(message) {
    if (message.client_id) this.pending.delete(message.client_id);
    if (!this.messages.has(message.seq)) this.messages.set(message.seq, message);
    else if (message.deleted) this.messages.set(message.seq, message);
    if (message.seq > this.lastSeq) this.lastSeq = message.seq;
  }

  upsert(participant) {
    if (this.me && participant.user_id === this.me.user_id) this.me = { ...this.me, ...participant };
    this.participants.set(participant.user_id, participant);
    this.syncHands();
  }

  syncHands() {
    const raised = new Set(
      [...this.participants.values()].filter((p) => p.hand_raised).map((p) => p.user_id),
    );
    this.handOrder = this.handOrder.filter((id) => raised.has(id));
    for (const id of raised) if (!this.handOrder.includes(id)) this.handOrder.push(id);
  }

  onError(frame) {
    const pending = frame.ref ? this.pending.get(frame.ref) : undefined;
    if (pending && frame.code === "rate_limited") {
      setTimeout(() => this.sendPending(pending), RESEND_AFTER_RATE_LIMIT_MS);
      return;
    }
    if (pending) {
      pending.failed = ERRORS[frame.code] || "Not sent.";
      return;
    }
    this.flash = ERRORS[frame.code] || frame.detail || "That did not work.";
  }

  sendChat(text) {
    const item = { client_id: clientId(), text, failed: "" };
    this.pending.set(item.client_id, item);
    if (this.admitted) this.sendPending(item);
    this.changed();
  }

  sendPending(item) {
    if (!this.pending.has(item.client_id) || !this.admitted) return;
    this.send({ type: "chat.send", client_id: item.client_id, text: item.text, ref: item.client_id });
  }

  flushOutbox() {
    for (const item of this.pending.values()) if (!item.failed) this.sendPending(item);
  }

  discard(clientIdValue) {
    this.pending.delete(clientIdValue);
    this.changed();
  }

  sortedMessages() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }
}
