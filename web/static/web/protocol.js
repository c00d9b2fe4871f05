// The room protocol as this client uses it (docs/realtime.md). tests/web checks these names
// against the server's own list.

export const SENDS = [
  "ping",
  "chat.send",
  "chat.history",
  "hand.raise",
  "hand.lower",
  "waiting.admit",
  "participant.mute",
  "participant.unmute",
  "participant.remove",
  "participant.step_out",
  "room.lock",
  "room.unlock",
  "chat.delete",
  "session.end",
];

export const HANDLES = [
  "room.state",
  "presence.joined",
  "presence.left",
  "presence.updated",
  "chat.message",
  "chat.deleted",
  "chat.history",
  "room.updated",
  "session.ended",
  "pong",
  "error",
];

// What each close code means for the person in the room, and whether to try again.
// retry: "now" (a fresh ticket at once, with backoff), "later" (a longer pause), false (stop).
export const CLOSES = {
  4401: { retry: "now", text: "Your sign-in ended. Getting a new pass…" },
  4403: { retry: false, text: "You are not in this room any more: you were removed, or your access to this group ended. Contact your program if you think this is a mistake." },
  4410: { retry: false, text: "This session has ended. Thank you for taking part." },
  4423: { retry: "later", text: "The room is locked right now. We will keep trying to let you in." },
  4008: { retry: false, text: "The connection was closed because this page sent too many invalid messages. Reload the page to continue." },
  4012: { retry: "now", text: "The server is restarting. Reconnecting…" },
  4408: { retry: "now", text: "The connection fell behind. Reconnecting…" },
  4013: { retry: "later", text: "The room is busy right now. Trying again shortly…" },
  1000: { retry: false, text: "You left the room." },
  1001: { retry: "now", text: "The server is restarting. Reconnecting…" },
  1006: { retry: "now", text: "The connection dropped. Reconnecting…" },
  1012: { retry: "now", text: "The server is restarting. Reconnecting…" },
};

export function closeInfo(code) {
  return CLOSES[code] || { retry: "now", text: "The connection dropped. Reconnecting…" };
}

// Plain sentences for error frames (the socket stays open).
export const ERRORS = {
  muted: "A facilitator has muted you, so your message was not sent.",
  rate_limited: "That was a lot at once. Wait a few seconds and try again.",
  chat_disabled: "Chat is turned off in this room.",
  not_admitted: "You are still in the waiting room.",
  forbidden: "Only a facilitator can do that.",
  not_found: "That person or message is no longer here.",
  invalid: "That could not be sent (a message has 1 to 2,000 characters).",
  access_ended: "Your access to this room has ended.",
  server_error: "Something went wrong on the server. Please try again.",
};
