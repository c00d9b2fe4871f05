// The vioip web client: sign-in (with a second factor), the home screen, one's records and
// the live room. Plain ES modules; every request goes to this origin.
import { ApiError, all, auth, get, post, whenUnauthorized } from "./api.js";
import { clear, day, field, h, hours, time } from "./dom.js";
import { Room } from "./room.js";
import qrcode from "./vendor/qrcode.mjs";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const banner = document.getElementById("banner");
let current = null; // the screen's cleanup, if any

// --- routing --------------------------------------------------------------------------------

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  render();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", () => render());
whenUnauthorized(() => {
  auth.clear();
  navigate(`/sign-in?next=${encodeURIComponent(location.pathname)}`, { replace: true });
});

function render() {
  if (current) current();
  current = null;
  setBanner("");
  const path = location.pathname;
  const signedIn = auth.get();
  renderNav(signedIn);
  if (path === "/sign-in" || !signedIn) return signInScreen();
  if (signedIn.mfa_enrollment_required || path === "/security") return enrolScreen();
  const room = path.match(/^\/sessions\/(\d+)$/);
  if (room) return roomScreen(Number(room[1]));
  if (path === "/records") return recordsScreen();
  return homeScreen();
}

function screen(title, ...children) {
  document.title = `${title} · vioip`;
  clear(main);
  const heading = h("h1", { tabindex: "-1" }, title);
  main.append(heading, ...children);
  heading.focus();
  return heading;
}

function setBanner(text) {
  banner.textContent = text;
  banner.hidden = !text;
}

function renderNav(signedIn) {
  clear(nav);
  if (!signedIn || !signedIn.user) return;
  const links = [h("a", { href: "/", "data-link": true }, "Home")];
  if (signedIn.user.role === "patient") {
    links.push(h("a", { href: "/records", "data-link": true }, "Your records"));
  }
  nav.append(
    ...links,
    h("span", { class: "who" }, signedIn.user.display_name),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
  );
}

async function signOut() {
  try {
    await post("auth/logout/");
  } catch {
    // Signed out here either way; the token ends by itself at its expiry.
  }
  auth.clear();
  navigate("/sign-in");
}

function alertBox() {
  return h("div", { role: "alert", class: "error" });
}

function showError(box, error) {
  box.textContent = error instanceof ApiError ? error.message : "Something went wrong. Please try again.";
}

// --- sign-in --------------------------------------------------------------------------------

function signInScreen() {
  const errors = alertBox();
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    field("Username", { name: "username", autocomplete: "username", required: true, autocapitalize: "none" }),
    field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
    errors,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.textContent = "";
    const data = new FormData(form);
    if (!data.get("username") || !data.get("password")) {
      errors.textContent = "Enter your username and password.";
      return;
    }
    try {
      const reply = await post("auth/login/", { username: data.get("username"), password: data.get("password") });
      if (reply.mfa_required) return secondFactorScreen(reply);
      signedIn(reply);
    } catch (error) {
      if (error.status === 400 || error.status === 401) errors.textContent = "That username and password do not match.";
      else showError(errors, error);
    }
  });
  screen("Sign in", form);
  form.querySelector("input").focus();
}

function signedIn(reply) {
  auth.set({ token: reply.token, user: reply.user, mfa_enrollment_required: Boolean(reply.mfa_enrollment_required) });
  const next = new URLSearchParams(location.search).get("next");
  const safeNext = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  navigate(reply.mfa_enrollment_required ? "/security" : safeNext, { replace: true });
}

function secondFactorScreen({ challenge, methods }) {
  const errors = alertBox();
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("p", {}, "Enter the 6-digit code from your authenticator app, or one of your recovery codes."),
    field("Authentication code", { name: "code", autocomplete: "one-time-code", inputmode: "text", required: true }),
    errors,
    h("button", { type: "submit" }, "Verify"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.textContent = "";
    const code = String(new FormData(form).get("code") || "").trim();
    if (!code) {
      errors.textContent = "Enter your authentication code.";
      return;
    }
    try {
      signedIn(await post("auth/mfa/verify/", { challenge, code }));
    } catch (error) {
      if (error.status === 400) errors.textContent = "That code did not work. Check it and try again.";
      else showError(errors, error);
    }
  });
  const parts = [form];
  if ((methods || []).includes("webauthn") && window.PublicKeyCredential) {
    const passkey = h("button", { type: "button", class: "secondary" }, "Use a passkey");
    passkey.addEventListener("click", async () => {
      errors.textContent = "";
      try {
        const options = await post("auth/mfa/webauthn/verify/begin/", { challenge });
        const credential = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
        });
        signedIn(await post("auth/mfa/webauthn/verify/finish/", { challenge, credential: credential.toJSON() }));
      } catch (error) {
        if (error instanceof ApiError) showError(errors, error);
        else errors.textContent = "The passkey was not used. Try again, or enter a code.";
      }
    });
    parts.push(h("div", { class: "card narrow" }, passkey));
  }
  screen("Second step", ...parts);
  form.querySelector("input").focus();
}

// --- enrolment of a second factor -------------------------------------------------------------

function enrolScreen() {
  const errors = alertBox();
  const area = h("div", { class: "card narrow" });
  const start = h("button", { type: "button" }, "Set up an authenticator app");
  area.append(
    h("p", {}, "Staff accounts need a second step at sign-in. Use an authenticator app (for example on your phone) to scan a code."),
    errors,
    start,
  );
  start.addEventListener("click", async () => {
    errors.textContent = "";
    try {
      const { secret, otpauth_uri: uri } = await post("auth/mfa/totp/");
      showTotp(area, secret, uri);
    } catch (error) {
      showError(errors, error);
    }
  });
  if (window.PublicKeyCredential) {
    const passkey = h("button", { type: "button", class: "secondary" }, "Set up a passkey");
    passkey.addEventListener("click", async () => {
      errors.textContent = "";
      try {
        const options = await post("auth/mfa/webauthn/register/begin/");
        const credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
        });
        const { recovery_codes: codes } = await post("auth/mfa/webauthn/register/finish/", {
          credential: credential.toJSON(),
          name: "Passkey",
        });
        showRecoveryCodes(area, codes);
      } catch (error) {
        if (error instanceof ApiError) showError(errors, error);
        else errors.textContent = "The passkey was not set up. Try again, or use an authenticator app.";
      }
    });
    area.append(" ", passkey);
  }
  screen("Two-step sign-in", area);
}

function showTotp(area, secret, uri) {
  const qr = qrcode(0, "M");
  qr.addData(uri);
  qr.make();
  const errors = alertBox();
  const form = h(
    "form",
    { novalidate: true },
    h("img", { src: qr.createDataURL(5, 4), alt: "QR code for your authenticator app", class: "qr" }),
    h("p", {}, "Can't scan it? Enter this key in the app instead: ", h("code", { class: "secret" }, secret)),
    field("Authentication code", { name: "code", autocomplete: "one-time-code", inputmode: "numeric", required: true }),
    errors,
    h("button", { type: "submit" }, "Confirm"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.textContent = "";
    const code = String(new FormData(form).get("code") || "").trim();
    try {
      const { recovery_codes: codes } = await post("auth/mfa/totp/confirm/", { code });
      showRecoveryCodes(area, codes);
    } catch (error) {
      if (error.status === 400) errors.textContent = "That code did not match. Wait for the next code and try again.";
      else showError(errors, error);
    }
  });
  clear(area).append(form);
  form.querySelector("input").focus();
}

function showRecoveryCodes(area, codes) {
  const done = h("button", { type: "button" }, "I have saved these codes");
  done.addEventListener("click", async () => {
    const stored = auth.get();
    try {
      stored.user = await get("auth/me/");
    } catch {
      // The page keeps the user it had.
    }
    auth.set({ ...stored, mfa_enrollment_required: false });
    navigate("/", { replace: true });
  });
  clear(area).append(
    h("h2", {}, "Your recovery codes"),
    h("p", {}, "Each code works once if you lose your phone. They are shown only now: keep them somewhere safe."),
    h("ul", { class: "codes" }, codes.map((code) => h("li", {}, h("code", {}, code)))),
    done,
  );
  done.focus();
}

// --- home -----------------------------------------------------------------------------------

const JOIN_EARLY_MINUTES = 15;

function joinable(session, now) {
  if (session.status === "live") return true;
  if (session.status !== "scheduled") return false;
  const starts = new Date(session.starts_at).getTime();
  const ends = new Date(session.ends_at).getTime();
  return now >= starts - JOIN_EARLY_MINUTES * 60000 && now < ends;
}

async function homeScreen() {
  const { user } = auth.get();
  const body = h("div", { class: "stack" }, h("p", {}, "Loading your sessions…"));
  screen(`Hello, ${user.first_name || user.display_name}`, body);
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const weekEnd = new Date(today.getTime() + 7 * 86400000);
  try {
    const query = `from=${encodeURIComponent(today.toISOString())}&to=${encodeURIComponent(weekEnd.toISOString())}`;
    const [sessions, attendance] = await Promise.all([
      all(`me/sessions/?${query}`),
      user.role === "patient" ? get("me/attendance/") : Promise.resolve(null),
    ]);
    clear(body);
    if (attendance) body.append(weekCard(attendance));
    body.append(sessionsCard(sessions));
    if (user.role === "patient") {
      body.append(h("p", {}, h("a", { href: "/records", "data-link": true }, "Read your records"), ": signed notes, screening results and disclosures."));
    }
  } catch (error) {
    clear(body).append(h("p", { role: "alert", class: "error" }, error.message));
  }
}

function weekCard(attendance) {
  const card = h("section", { class: "card", "aria-labelledby": "week-h" }, h("h2", { id: "week-h" }, "Your hours this week"));
  for (const week of attendance.cohorts || []) {
    const minimum = week.weekly_minimum_minutes || 0;
    const done = week.total_minutes || 0;
    const left = week.minutes_to_minimum || 0;
    card.append(
      h("p", {}, h("strong", {}, week.cohort.name)),
      h("p", { class: "big" }, `${hours(done)} of ${hours(minimum)}`),
      minimum ? h("progress", { max: String(minimum), value: String(Math.min(done, minimum)), "aria-label": `${hours(done)} of ${hours(minimum)} this week` }) : null,
      h("p", {}, left > 0 ? `${hours(left)} left to reach this week's minimum.` : "You have reached this week's minimum."),
    );
  }
  if (!(attendance.cohorts || []).length) card.append(h("p", {}, "You are not enrolled in a program this week."));
  return card;
}

function sessionsCard(sessions) {
  const card = h("section", { class: "card", "aria-labelledby": "sessions-h" }, h("h2", { id: "sessions-h" }, "Today and this week"));
  if (!sessions.length) {
    card.append(h("p", {}, "No sessions in the next seven days."));
    return card;
  }
  const now = Date.now();
  const list = h("ul", { class: "sessions" });
  for (const session of sessions) {
    const canJoin = joinable(session, now);
    const status = session.status === "live" ? "Live now" : session.status === "cancelled" ? "Cancelled" : session.status === "ended" ? "Ended" : "";
    list.append(
      h(
        "li",
        { class: canJoin ? "live" : "" },
        h("div", {}, h("strong", {}, session.title), h("br"), `${day(session.starts_at)}, ${time(session.starts_at)}–${time(session.ends_at)}`, status ? h("span", { class: "tag" }, status) : null),
        canJoin ? h("a", { href: `/sessions/${session.id}`, "data-link": true, class: "button" }, `Join ${session.title}`) : null,
      ),
    );
  }
  card.append(list);
  return card;
}

// --- records --------------------------------------------------------------------------------

async function recordsScreen() {
  const body = h("div", { class: "stack" }, h("p", {}, "Loading your records…"));
  screen("Your records", body);
  try {
    const [notes, tests, disclosures] = await Promise.all([
      all("me/records/notes/"),
      all("me/records/screening/"),
      all("me/records/disclosures/"),
    ]);
    clear(body).append(notesCard(notes), screeningCard(tests), disclosuresCard(disclosures));
  } catch (error) {
    clear(body).append(h("p", { role: "alert", class: "error" }, error.message));
  }
}

function notesCard(notes) {
  const card = h("section", { class: "card", "aria-labelledby": "notes-h" }, h("h2", { id: "notes-h" }, "Signed notes"));
  if (!notes.length) card.append(h("p", {}, "No signed notes yet."));
  for (const note of notes) {
    const sections = Object.entries(note.sections || {}).map(([name, text]) => [h("dt", {}, name), h("dd", {}, text)]);
    card.append(
      h(
        "article",
        { class: "record" },
        h("h3", {}, `${note.kind} note, ${day(note.occurred_at)}`),
        h("p", { class: "meta" }, `Signed by ${note.signed_by ? note.signed_by.display_name : "—"}`),
        h("dl", {}, sections),
        (note.addenda || []).map((addendum) => h("p", { class: "addendum" }, `Addendum by ${addendum.author.display_name}: ${addendum.text}`)),
      ),
    );
  }
  return card;
}

function screeningCard(tests) {
  const card = h("section", { class: "card", "aria-labelledby": "tests-h" }, h("h2", { id: "tests-h" }, "Screening results"));
  if (!tests.length) card.append(h("p", {}, "No screening results."));
  for (const test of tests) {
    card.append(
      h(
        "article",
        { class: "record" },
        h("h3", {}, `${test.specimen} test, ${day(test.collected_at)}: ${test.overall || test.status}`),
        h("ul", {}, (test.results || []).map((r) => h("li", {}, `${r.analyte} (${r.method}): ${r.result}`))),
      ),
    );
  }
  return card;
}

function disclosuresCard(disclosures) {
  const card = h("section", { class: "card", "aria-labelledby": "disc-h" }, h("h2", { id: "disc-h" }, "Disclosures made about you"));
  if (!disclosures.length) card.append(h("p", {}, "Nothing has been disclosed about you."));
  for (const d of disclosures) {
    card.append(
      h(
        "article",
        { class: "record" },
        h("h3", {}, `To ${d.recipient.organization || d.recipient.name}, ${day(d.disclosed_at)}`),
        h("p", {}, `${d.recipient.name}; by ${d.disclosed_by}. Information: ${(d.information || []).join(", ").replaceAll("_", " ")}; period ${d.from} to ${d.to}.`),
      ),
    );
  }
  return card;
}

// --- the room -------------------------------------------------------------------------------

function roomScreen(sessionId) {
  const room = new Room(sessionId);
  const { user } = auth.get();
  const staff = user.role !== "patient";
  const status = h("p", { class: "muted" }, "Connecting…");
  const waiting = h("div", { class: "card waiting", hidden: true }, h("p", { class: "big" }, "You're in the waiting room…"), h("p", {}, "A facilitator will let you in soon. Keep this page open."));
  const list = h("ol", { class: "messages" });
  const log = h("div", { role: "log", "aria-label": "Chat", class: "log" }, list);
  const pendingList = h("ul", { class: "pending", "aria-label": "Waiting to be sent" });
  const input = h("input", { id: "message", name: "message", maxlength: "2000", autocomplete: "off" });
  const form = h("form", { class: "send" }, h("label", { for: "message" }, "Message"), h("div", { class: "row" }, input, h("button", { type: "submit" }, "Send")));
  const flash = h("p", { role: "alert", class: "error" });
  const chat = h("section", { class: "card chat", "aria-labelledby": "chat-h", hidden: true }, h("h2", { id: "chat-h" }, "Chat"), log, pendingList, flash, form);
  const side = h("div", { class: "side", hidden: true });
  const ended = h("div", { class: "card", hidden: true });
  const layout = h("div", { class: "room" }, chat, side);
  const minutes = { byUser: new Map(), daily: null, timer: null };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (text.length > 2000) {
      room.flash = "A message has at most 2,000 characters.";
      return update();
    }
    flash.textContent = "";
    room.sendChat(text);
    input.value = "";
  });

  const rendered = new Map(); // seq -> li
  function renderLog() {
    let next = null;
    const messages = room.sortedMessages();
    for (let i = messages.length - 1; i >= 0; i -= 1) {
      const message = messages[i];
      let li = rendered.get(message.seq);
      const key = `${message.deleted}`;
      if (li && li.dataset.state === key) {
        next = li;
        continue;
      }
      const fresh = messageItem(message);
      fresh.dataset.state = key;
      if (li) li.replaceWith(fresh);
      else list.insertBefore(fresh, next);
      rendered.set(message.seq, fresh);
      next = fresh;
    }
    clear(pendingList);
    for (const item of room.pending.values()) {
      pendingList.append(
        h(
          "li",
          {},
          h("span", {}, item.text),
          " ",
          h("span", { class: "muted" }, item.failed ? `Not sent: ${item.failed}` : "Sending…"),
          item.failed ? h("button", { type: "button", class: "link", "data-key": `discard-${item.client_id}`, onclick: () => room.discard(item.client_id) }, "Dismiss") : null,
        ),
      );
    }
  }

  function messageItem(message) {
    const who = message.sender ? message.sender.display_name : "Someone";
    const li = h("li", { class: "msg", "data-seq": String(message.seq) }, h("span", { class: "sender" }, who), h("time", { datetime: message.sent_at }, time(message.sent_at)));
    if (message.deleted) li.append(h("p", { class: "deleted" }, "Message deleted"));
    else li.append(h("p", {}, message.text));
    if (staff && !message.deleted) {
      li.append(h("button", { type: "button", class: "link", "data-key": `del-${message.seq}`, "aria-label": `Delete message ${message.seq} from ${who}`, onclick: () => room.send({ type: "chat.delete", seq: message.seq }) }, "Delete"));
    }
    return li;
  }

  function renderSide() {
    const focusKey = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : undefined;
    clear(side);
    const people = [...room.participants.values()];
    const admitted = people.filter((p) => p.state === "admitted");
    const waitingPeople = people.filter((p) => p.state === "waiting");
    if (!staff) {
      const raised = room.me && room.me.hand_raised;
      side.append(h("section", { class: "card" }, h("button", { type: "button", "data-key": "hand", "aria-pressed": raised ? "true" : "false", onclick: () => room.send({ type: raised ? "hand.lower" : "hand.raise" }) }, raised ? "Lower hand" : "Raise hand")));
    }
    if (staff) {
      const waitingCard = h("section", { class: "card", "aria-labelledby": "wait-h" }, h("h2", { id: "wait-h" }, `Waiting room (${waitingPeople.length})`));
      if (!waitingPeople.length) waitingCard.append(h("p", {}, "Nobody is waiting."));
      const list = h("ul", { class: "people" });
      for (const p of waitingPeople) {
        list.append(h("li", {}, h("span", {}, p.display_name), h("button", { type: "button", "data-key": `admit-${p.user_id}`, onclick: () => room.send({ type: "waiting.admit", user_id: p.user_id }) }, `Admit ${p.display_name}`)));
      }
      waitingCard.append(list);
      side.append(waitingCard);
    }
    const hands = room.handOrder.map((id) => room.participants.get(id)).filter(Boolean);
    const handCard = h("section", { class: "card", "aria-labelledby": "hands-h" }, h("h2", { id: "hands-h" }, "Raised hands"));
    handCard.append(hands.length ? h("ol", {}, hands.map((p) => h("li", {}, p.display_name))) : h("p", {}, "No hands raised."));
    side.append(handCard);

    const who = h("section", { class: "card", "aria-labelledby": "who-h" }, h("h2", { id: "who-h" }, `Who is here (${admitted.length})`));
    const list = h("ul", { class: "people" });
    for (const p of admitted) {
      const tags = [p.role !== "patient" ? p.role : null, p.muted ? "muted" : null, p.hand_raised ? "hand raised" : null].filter(Boolean);
      const item = h("li", {}, h("span", {}, p.display_name, tags.length ? h("span", { class: "muted" }, ` (${tags.join(", ")})`) : null));
      if (staff && p.role === "patient") {
        const mins = minutes.byUser.get(p.user_id);
        if (mins !== undefined) item.append(h("span", { class: "minutes" }, minutes.daily ? `${mins} of ${minutes.daily} min today` : `${mins} min`));
        item.append(
          h(
            "div",
            { class: "actions" },
            p.muted
              ? h("button", { type: "button", "data-key": `unmute-${p.user_id}`, onclick: () => room.send({ type: "participant.unmute", user_id: p.user_id }) }, `Unmute ${p.display_name}`)
              : h("button", { type: "button", "data-key": `mute-${p.user_id}`, onclick: () => room.send({ type: "participant.mute", user_id: p.user_id }) }, `Mute ${p.display_name}`),
            h("button", { type: "button", "data-key": `stepout-${p.user_id}`, onclick: () => room.send({ type: "participant.step_out", user_id: p.user_id }) }, `Step out ${p.display_name}`),
            h("button", { type: "button", class: "danger", "data-key": `remove-${p.user_id}`, onclick: () => room.send({ type: "participant.remove", user_id: p.user_id }) }, `Remove ${p.display_name}`),
          ),
        );
      }
      list.append(item);
    }
    who.append(list);
    side.append(who);

    if (staff) {
      const locked = room.flags && room.flags.locked;
      const controls = h(
        "section",
        { class: "card", "aria-labelledby": "ctl-h" },
        h("h2", { id: "ctl-h" }, "Room"),
        h("p", {}, locked ? "The room is locked: only people admitted before can come in." : "The room is open."),
        h("button", { type: "button", "data-key": "lock", onclick: () => room.send({ type: locked ? "room.unlock" : "room.lock" }) }, locked ? "Unlock room" : "Lock room"),
      );
      const end = h("button", { type: "button", class: "danger", "data-key": "end" }, "End session");
      end.addEventListener("click", () => {
        const confirmBox = h(
          "div",
          { class: "confirm", role: "group", "aria-label": "Confirm ending the session" },
          h("p", {}, "End the session for everyone?"),
          h("button", { type: "button", class: "danger", "data-key": "end-yes", onclick: () => room.send({ type: "session.end" }) }, "Yes, end session"),
          h("button", { type: "button", class: "secondary", "data-key": "end-no", onclick: () => { confirmBox.remove(); end.focus(); } }, "Cancel"),
        );
        end.after(confirmBox);
        confirmBox.querySelector("button").focus();
      });
      controls.append(end);
      side.append(controls);
    }
    if (focusKey) {
      const again = side.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  async function refreshMinutes() {
    try {
      if (minutes.daily === null) {
        const session = await get(`sessions/${sessionId}/`);
        const cohort = await get(`cohorts/${session.cohort}/`);
        minutes.daily = cohort.daily_minimum_minutes || 0;
      }
      const rows = await get(`sessions/${sessionId}/attendance/`);
      minutes.byUser = new Map(rows.map((row) => [row.user_id, row.minutes_attended]));
      update();
    } catch {
      // Minutes are a help, not the room: try again on the next tick.
    }
  }

  function update() {
    if (room.session) {
      heading.textContent = room.session.title;
      document.title = `${room.session.title} · vioip`;
    }
    const closed = room.status === "closed";
    setBanner(room.status === "reconnecting" ? room.notice || "Reconnecting…" : "");
    status.textContent = closed ? "" : room.status === "open" ? (room.admitted ? "Connected." : "") : room.status === "reconnecting" ? "Reconnecting…" : "Connecting…";
    if (closed) {
      clear(ended).append(h("p", { class: "big" }, room.notice), h("a", { href: "/", "data-link": true, class: "button" }, "Back to your sessions"));
    }
    ended.hidden = !closed;
    waiting.hidden = closed || !room.me || room.admitted;
    chat.hidden = closed || !room.admitted;
    side.hidden = closed || !room.admitted;
    if (room.flash) {
      flash.textContent = room.flash;
      room.flash = "";
    }
    renderLog();
    if (!side.hidden) renderSide();
  }

  const heading = screen("Room", status, ended, waiting, layout);
  room.addEventListener("change", update);
  room.start();
  if (staff) {
    refreshMinutes();
    minutes.timer = setInterval(refreshMinutes, 60000);
  }
  current = () => {
    clearInterval(minutes.timer);
    room.stop();
  };
}

render();
