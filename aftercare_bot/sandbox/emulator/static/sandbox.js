// The sandbox page: shows the emulated chats and lets you act in them. No framework, no build step.
// Message text arrives as Telegram's plain text plus entities and is rendered with DOM nodes only,
// so nothing anyone types can become markup on this page.
"use strict";

const state = {
  bot: null,
  users: new Map(),
  messages: new Map(), // chat id -> Map(message id -> view)
  sandbox: null,
  clockOffset: 0, // sandbox time minus this computer's time, in ms
  client: null, // the client whose private chat is shown
  pressed: new Map(), // callback query id -> the button pressed
};
const panes = {};
const SAFE_PROTOCOLS = new Set(["http:", "https:", "tg:", "mailto:", "tel:"]);
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/g;

// -- small helpers --------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

async function api(path, body) {
  const options = body instanceof FormData
    ? { method: "POST", body }
    : { method: body === undefined ? "GET" : "POST", headers: { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `The sandbox answered ${response.status}`);
  return data;
}

function toast(text, { alert = false } = {}) {
  if (!text) return;
  const item = el("div", { class: alert ? "toast alert" : "toast", text });
  document.getElementById("toasts").append(item);
  setTimeout(() => item.remove(), alert ? 10000 : 6000);
}

function nameOf(user) {
  if (!user) return "";
  if (state.bot && user.id === state.bot.id) return `${state.bot.first_name} (bot)`;
  const known = state.users.get(user.id) || user;
  const name = known.name || [known.first_name, known.last_name].filter(Boolean).join(" ");
  const role = state.sandbox && state.sandbox.roles[String(user.id)];
  return role ? `${name} (${role})` : name;
}

function formatTime(seconds, withYear = false) {
  const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    timeZone: (state.sandbox && state.sandbox.timezone) || "UTC" };
  if (withYear) options.year = "numeric";
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(seconds * 1000));
}

// -- Telegram formatting: plain text + entities -> DOM ------------------------------------------

function safeUrl(href) {
  try {
    const url = new URL(href);
    return SAFE_PROTOCOLS.has(url.protocol) ? url : null;
  } catch {
    return null;
  }
}

function startToken(url) {
  // A deep link to this bot, which the page opens inside the sandbox instead of on the internet.
  if (!url || url.hostname !== "t.me" || !state.bot) return null;
  if (url.pathname.slice(1).toLowerCase() !== String(state.bot.username).toLowerCase()) return null;
  return url.searchParams.get("start");
}

function link(href, text) {
  const url = safeUrl(href);
  if (!url) return document.createTextNode(text);
  const anchor = el("a", { href: url.href, text });
  if (startToken(url)) {
    anchor.dataset.startLink = url.href;
    anchor.title = "Open this link as the client (inside the sandbox)";
  } else {
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
  }
  return anchor;
}

function appendPlain(parent, text) {
  // Telegram apps turn web addresses in plain text into links; so does the page.
  let position = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const address = match[0].replace(/[.,;:!?)]+$/, "");
    parent.append(text.slice(position, match.index), link(address, address));
    position = match.index + address.length;
  }
  parent.append(text.slice(position));
}

function entityElement(entity, text) {
  const inner = text.slice(entity.offset, entity.offset + entity.length);
  switch (entity.type) {
    case "bold": return el("strong");
    case "italic": return el("em");
    case "underline": return el("u");
    case "strikethrough": return el("s");
    case "code": return el("code");
    case "pre": {
      const code = el("code");
      return { outer: el("pre", {}, code), inner: code };
    }
    case "blockquote":
    case "expandable_blockquote": return el("blockquote");
    case "spoiler":
      return el("span", { class: "spoiler", tabindex: "0", role: "button", "aria-label": "Hidden text, press to show",
        onclick: (event) => event.currentTarget.classList.add("revealed"),
        onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") event.currentTarget.click(); } });
    case "text_link": {
      const url = safeUrl(entity.url);
      if (!url) return el("span");
      const anchor = link(url.href, "");
      anchor.textContent = "";
      return anchor;
    }
    case "url": {
      const url = safeUrl(inner);
      return url ? Object.assign(link(url.href, ""), { textContent: "" }) : el("span");
    }
    case "bot_command": return el("span", { class: "command" });
    default: return el("span");
  }
}

function renderRange(parent, text, start, end, entities) {
  let position = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    const entityEnd = entity.offset + entity.length;
    const nested = [];
    let j = i + 1;
    while (j < entities.length && entities[j].offset < entityEnd) nested.push(entities[j++]);
    const from = Math.max(entity.offset, position);
    const to = Math.min(entityEnd, end);
    if (from > position) appendPlain(parent, text.slice(position, from));
    if (to > from) {
      const node = entityElement(entity, text);
      const target = node.inner || node;
      if (entity.type === "url" || entity.type === "text_link" || entity.type === "bot_command") {
        target.append(text.slice(from, to));
      } else {
        renderRange(target, text, from, to, nested);
      }
      parent.append(node.outer || node);
      position = to;
    }
    i = j;
  }
  if (position < end) appendPlain(parent, text.slice(position, end));
}

function renderText(text, entities) {
  const container = el("div", { class: "text" });
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  renderRange(container, text, 0, text.length, sorted);
  return container;
}

// -- messages -------------------------------------------------------------------------------------

function messageId(chatId, id) {
  return `m${String(chatId).replace("-", "n")}_${id}`;
}

function messageElement(view, pane) {
  const own = !view.from_bot && view.sender && view.sender.id === pane.actorId();
  const group = pane.name === "staff";
  const sender = nameOf(view.sender);
  const bubble = el("div", { class: "bubble" });
  bubble.append(el("p", { class: own || !group ? "sender visually-hidden" : "sender", text: own ? "You" : sender }));
  if (view.reply_to) {
    const quoted = el("a", { class: "quote", href: `#${messageId(view.chat_id, view.reply_to.id)}` },
      el("span", { class: "visually-hidden", text: "In reply to " }),
      el("span", { class: "quote-sender", text: nameOf(view.reply_to.sender) }),
      el("span", { class: "quote-text", text: view.reply_to.text }));
    bubble.append(quoted);
  }
  if (view.photo) {
    // The size is known, so the chat does not jump when the picture arrives.
    bubble.append(el("img", { class: "photo", src: `/api/files/${encodeURIComponent(view.photo.file_id)}`,
      width: view.photo.width, height: view.photo.height,
      alt: view.text ? "Photo" : `Photo from ${own ? "you" : sender}` }));
  }
  if (view.media) bubble.append(el("p", { class: "media", text: `[${view.media}]` }));
  if (view.text) bubble.append(renderText(view.text, view.entities));
  const meta = el("div", { class: "meta" },
    el("time", { datetime: new Date(view.date * 1000).toISOString(), text: formatTime(view.date) }));
  if (view.edited) meta.append(el("span", { class: "edited", text: "edited" }));
  meta.append(el("button", { type: "button", class: "link-button reply-button", text: "Reply",
    "aria-label": `Reply to this message from ${own ? "you" : sender}`,
    onclick: () => startReply(pane, view) }));
  bubble.append(meta);

  const item = el("li", { class: `msg ${own ? "out" : "in"}`, id: messageId(view.chat_id, view.id) }, bubble);
  item.dataset.id = view.id;
  if (view.buttons && view.buttons.length) item.append(keyboard(view, pane));
  return item;
}

function keyboard(view, pane) {
  const board = el("div", { class: "keyboard", role: "group", "aria-label": "Buttons under the message" });
  for (const row of view.buttons) {
    const line = el("div", { class: "keyboard-row" });
    for (const button of row) {
      if (button.url) {
        line.append(Object.assign(link(button.url, button.text), { className: "key" }));
      } else {
        line.append(el("button", { type: "button", class: "key", text: button.text,
          onclick: (event) => press(pane, view, button, event.currentTarget) }));
      }
    }
    board.append(line);
  }
  return board;
}

function storeMessage(view) {
  if (!state.messages.has(view.chat_id)) state.messages.set(view.chat_id, new Map());
  state.messages.get(view.chat_id).set(view.id, view);
}

function showMessage(view) {
  storeMessage(view);
  if (!state.client && state.users.has(view.chat_id) && isClient(view.chat_id)) selectClient(view.chat_id);
  for (const pane of Object.values(panes)) {
    if (pane.chatId() !== view.chat_id) continue;
    const fresh = messageElement(view, pane);
    const existing = pane.log.querySelector(`#${messageId(view.chat_id, view.id)}`);
    const atBottom = pane.log.scrollHeight - pane.log.scrollTop - pane.log.clientHeight < 80;
    if (existing) {
      existing.replaceWith(fresh);
    } else {
      const later = [...pane.log.children].find((item) => Number(item.dataset.id) > view.id);
      pane.log.insertBefore(fresh, later || null);
      if (atBottom || !view.from_bot) pane.log.scrollTop = pane.log.scrollHeight;
    }
    updateEmpty(pane);
  }
}

function renderPane(pane) {
  pane.log.setAttribute("aria-busy", "true");
  pane.log.replaceChildren();
  const chat = state.messages.get(pane.chatId());
  if (chat) {
    const views = [...chat.values()].sort((a, b) => a.id - b.id);
    pane.log.append(...views.map((view) => messageElement(view, pane)));
  }
  updateEmpty(pane);
  pane.log.scrollTop = pane.log.scrollHeight;
  pane.log.removeAttribute("aria-busy");
}

function updateEmpty(pane) {
  const empty = pane.log.children.length === 0;
  pane.empty.hidden = !empty;
  pane.empty.textContent = pane.emptyText();
  const disabled = pane.chatId() === null;
  for (const control of pane.composer.querySelectorAll("textarea, button, input")) control.disabled = disabled;
}

// -- acting -----------------------------------------------------------------------------------------

function startReply(pane, view) {
  pane.replyTo = view;
  const snippet = view.text || (view.photo ? "Photo" : "");
  pane.replying.hidden = false;
  pane.replyingText.textContent = `Replying to ${nameOf(view.sender)}: ${snippet.slice(0, 80)}${snippet.length > 80 ? "…" : ""}`;
  pane.textarea.focus();
}

function cancelReply(pane) {
  pane.replyTo = null;
  pane.replying.hidden = true;
}

async function press(pane, view, button, node) {
  node.setAttribute("aria-busy", "true");
  node.classList.add("pressed");
  try {
    const { query_id: queryId } = await api("/api/press", {
      user_id: pane.actorId(), chat_id: view.chat_id, message_id: view.id, data: button.data });
    state.pressed.set(queryId, node);
  } catch (error) {
    node.classList.remove("pressed");
    node.removeAttribute("aria-busy");
    toast(error.message, { alert: true });
  }
}

function onAnswer(answer) {
  const node = state.pressed.get(answer.query_id);
  state.pressed.delete(answer.query_id);
  if (node) {
    node.classList.remove("pressed");
    node.removeAttribute("aria-busy");
  }
  toast(answer.text, { alert: answer.show_alert });
}

async function sendText(pane) {
  const text = pane.textarea.value.trim();
  if (!text) return;
  try {
    await api("/api/send", { user_id: pane.actorId(), chat_id: pane.chatId(), text,
      reply_to: pane.replyTo ? pane.replyTo.id : null });
    pane.textarea.value = "";
    cancelReply(pane);
  } catch (error) {
    toast(error.message, { alert: true });
  }
}

async function sendPhoto(pane, file) {
  const form = new FormData();
  form.append("user_id", pane.actorId());
  form.append("chat_id", pane.chatId());
  form.append("caption", pane.textarea.value.trim());
  if (pane.replyTo) form.append("reply_to", pane.replyTo.id);
  if (file) form.append("picture", file);
  try {
    await api("/api/photo", form);
    pane.textarea.value = "";
    cancelReply(pane);
  } catch (error) {
    toast(error.message, { alert: true });
  }
}

async function openStartLink(href, name) {
  const body = { link: href };
  if (name) body.name = name;
  else if (state.client) body.user_id = state.client;
  try {
    const { user_id: userId } = await api("/api/sandbox/open-link", body);
    selectClient(userId);
    panes.client.log.focus();
  } catch (error) {
    toast(error.message, { alert: true });
  }
}

async function enrol(event) {
  event.preventDefault();
  const input = document.getElementById("enrol-name");
  const result = document.getElementById("enrol-result");
  const button = event.target.querySelector("button");
  button.disabled = true;
  result.replaceChildren(el("p", { text: "Sending /enrol in the staff group…" }));
  try {
    const answer = await api("/api/sandbox/enrol", { name: input.value });
    if (answer.link) {
      const first = answer.name.split(" ")[0];
      result.replaceChildren(
        el("p", {}, `Link for ${answer.name}: `, link(answer.link, answer.link)),
        el("button", { type: "button", class: "primary", text: `Open the link on ${first}'s phone`,
          onclick: () => openStartLink(answer.link, answer.name) }));
      input.value = "";
    } else {
      result.replaceChildren(el("p", { class: "problem", text: answer.problem }));
    }
  } catch (error) {
    result.replaceChildren(el("p", { class: "problem", text: error.message }));
  } finally {
    button.disabled = false;
  }
}

// -- the clock ----------------------------------------------------------------------------------------

function showClock(clock) {
  state.clockOffset = clock.now * 1000 - Date.now();
  state.nextDue = clock.next_due;
  tickClock();
}

function tickClock() {
  if (!state.sandbox) return;
  const now = (Date.now() + state.clockOffset) / 1000;
  const clock = document.getElementById("clock-now");
  clock.textContent = `${formatTime(now, true)} (${state.sandbox.timezone})`;
  clock.setAttribute("datetime", new Date(now * 1000).toISOString());
  const next = document.getElementById("clock-next");
  if (state.nextDue) {
    const hours = (state.nextDue - now) / 3600;
    const when = hours <= 0 ? "due now" : hours < 1 ? `in ${Math.ceil(hours * 60)} min`
      : hours < 48 ? `in ${Math.round(hours)} h` : `in ${Math.round(hours / 24)} days`;
    next.textContent = `Next scheduled: ${formatTime(state.nextDue)} (${when})`;
  } else {
    next.textContent = "Nothing is scheduled.";
  }
}

let clockRefresh = null;

function refreshClockSoon() {
  // Enrolments and answers schedule messages; show the new "next scheduled" without a clock move.
  clearTimeout(clockRefresh);
  clockRefresh = setTimeout(() => {
    api("/api/sandbox/clock").then(showClock).catch(() => {});
  }, 400);
}

async function moveClock(action, button) {
  const buttons = document.querySelectorAll("[data-clock]");
  buttons.forEach((b) => { b.disabled = true; });
  button.setAttribute("aria-busy", "true");
  try {
    const clock = await api("/api/sandbox/clock", { action });
    showClock(clock);
    if (!clock.moved) toast("Nothing is scheduled, so the clock stays where it is.");
  } catch (error) {
    toast(error.message, { alert: true });
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    button.removeAttribute("aria-busy");
  }
}

// -- people ---------------------------------------------------------------------------------------------

function isClient(userId) {
  return state.bot && userId !== state.bot.id && !(String(userId) in state.sandbox.roles);
}

function setUsers(users) {
  state.users = new Map(users.map((user) => [user.id, user]));
  const clients = users.filter((user) => isClient(user.id));
  const select = document.getElementById("client-select");
  const options = clients.map((user) => el("option", { value: user.id, text: nameOf(user) }));
  if (!options.length) options.push(el("option", { value: "", text: "No client yet" }));
  select.replaceChildren(...options);
  select.disabled = !clients.length;
  if (state.client && clients.some((user) => user.id === state.client)) select.value = state.client;
  else state.client = clients.length ? clients[clients.length - 1].id : null;
  if (state.client) select.value = state.client;
}

function selectClient(userId) {
  state.client = userId;
  document.getElementById("client-select").value = userId;
  setLanguages();
  renderPane(panes.client);
}

function setLanguages() {
  // The client's Telegram language: the clinic's languages, named in themselves, and one it has no texts in.
  const select = document.getElementById("client-language");
  const client = state.client && state.users.get(state.client);
  const current = client ? client.language_code || "" : state.sandbox.client_language;
  const options = state.sandbox.languages.map((language) => el("option", {
    value: language.code, text: language.texts ? `${language.name} (${language.code})`
      : `${language.name} (${language.code}, no texts)` }));
  if (current && !state.sandbox.languages.some((language) => language.code === current)) {
    options.push(el("option", { value: current, text: `${current} (no texts)` }));
  }
  options.push(el("option", { value: "", text: "Not set" }));
  select.replaceChildren(...options);
  select.value = current;
  const staff = state.sandbox.staff_language;
  document.getElementById("staff-language").textContent = `The team reads ${staff.name} (${staff.code}).`;
}

async function changeClientLanguage(code) {
  try {
    await api("/api/sandbox/client-language", { language_code: code, user_id: state.client });
    state.sandbox.client_language = code;
    toast(state.client ? `${nameOf({ id: state.client })} and new clients now use Telegram in this language.`
      : "New clients will use Telegram in this language.");
  } catch (error) {
    toast(error.message, { alert: true });
  }
}

function setStaff() {
  const select = document.getElementById("staff-select");
  const previous = Number(select.value) || state.sandbox.default_staff_id;
  const staff = Object.keys(state.sandbox.roles).map(Number);
  select.replaceChildren(...staff.map((id) => el("option", { value: id, text: nameOf({ id }) })));
  select.value = previous;
}

// -- start-up ---------------------------------------------------------------------------------------------

function makePane(name, chatId, actorId, emptyText) {
  const root = document.querySelector(`[data-pane="${name}"]`);
  root.append(document.getElementById("pane-body").content.cloneNode(true));
  const pane = {
    name, root, chatId, actorId, emptyText, replyTo: null,
    log: root.querySelector(".log"),
    empty: root.querySelector(".empty"),
    composer: root.querySelector(".composer"),
    textarea: root.querySelector("textarea"),
    replying: root.querySelector(".replying"),
    replyingText: root.querySelector(".replying-text"),
  };
  const title = root.querySelector("h2").textContent;
  pane.log.setAttribute("aria-label", `Messages: ${title}`);
  pane.textarea.id = `${name}-text`;
  root.querySelector(".composer > label").setAttribute("for", pane.textarea.id);
  root.querySelector(".composer > label").textContent = `Message (${title})`;
  pane.composer.addEventListener("submit", (event) => { event.preventDefault(); sendText(pane); });
  pane.textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); sendText(pane); }
    if (event.key === "Escape") cancelReply(pane);
  });
  root.querySelector(".cancel-reply").addEventListener("click", () => { cancelReply(pane); pane.textarea.focus(); });
  root.querySelector(".sample-photo").addEventListener("click", () => sendPhoto(pane, null));
  const file = root.querySelector("input[type=file]");
  file.addEventListener("change", () => { if (file.files[0]) sendPhoto(pane, file.files[0]); file.value = ""; });
  panes[name] = pane;
}

async function load() {
  const peopleSeen = state.peopleUpdates || 0;
  const data = await api("/api/state");
  state.bot = data.bot;
  state.sandbox = data.sandbox;
  state.messages = new Map();
  // People who arrived while the state was on its way are newer than it: keep them.
  setUsers(state.peopleUpdates === peopleSeen || !state.users ? data.users : [...state.users.values()]);
  setStaff();
  setLanguages();
  data.messages.forEach(storeMessage);
  showClock(data.sandbox.clock);
  document.getElementById("staff-title").textContent = `Staff group: ${
    (data.chats.find((chat) => chat.id === data.sandbox.staff_chat_id) || {}).title || ""}`;
  document.title = `${data.sandbox.clinic_name} — aftercare bot sandbox`;
  Object.values(panes).forEach(renderPane);
}

function connect() {
  const status = document.getElementById("connection");
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    // "Live" once the page shows the current state, so nothing done from then on is drawn over by it.
    load().then(() => {
      status.textContent = "Live";
      status.className = "connection live";
    }).catch((error) => toast(error.message, { alert: true }));
  });
  events.addEventListener("error", () => {
    status.textContent = "Reconnecting…";
    status.className = "connection";
  });
  events.addEventListener("message", (event) => {
    showMessage(JSON.parse(event.data));
    refreshClockSoon();
  });
  events.addEventListener("deleted", (event) => {
    const { chat_id: chatId, id } = JSON.parse(event.data);
    const chat = state.messages.get(chatId);
    if (chat) chat.delete(id);
    document.querySelectorAll(`#${messageId(chatId, id)}`).forEach((node) => node.remove());
  });
  events.addEventListener("answer", (event) => onAnswer(JSON.parse(event.data)));
  events.addEventListener("clock", (event) => showClock(JSON.parse(event.data)));
  events.addEventListener("people", (event) => {
    state.peopleUpdates = (state.peopleUpdates || 0) + 1;
    setUsers(JSON.parse(event.data).users);
    if (state.sandbox) setLanguages();
    renderPane(panes.client);
  });
  events.addEventListener("closing", () => {
    events.close();
    status.textContent = "The sandbox has stopped. Start it again with: aftercare-bot sandbox";
    status.className = "connection stopped";
  });
}

document.addEventListener("DOMContentLoaded", () => {
  makePane("client", () => state.client, () => state.client,
    () => (state.client ? "No messages yet." : "No client yet. Enrol one with the front desk form above, then open the link."));
  makePane("staff", () => state.sandbox && state.sandbox.staff_chat_id,
    () => Number(document.getElementById("staff-select").value),
    () => "No messages yet. Enrol a client with the front desk form above.");
  makePane("admin", () => state.sandbox && state.sandbox.admin_id, () => state.sandbox && state.sandbox.admin_id,
    () => "No messages yet. Try /help or /templates.");
  document.getElementById("client-select").addEventListener("change", (event) => selectClient(Number(event.target.value)));
  document.getElementById("staff-select").addEventListener("change", () => renderPane(panes.staff));
  document.getElementById("client-language").addEventListener("change", (event) => changeClientLanguage(event.target.value));
  document.getElementById("enrol-form").addEventListener("submit", enrol);
  document.querySelectorAll("[data-clock]").forEach((button) => {
    button.addEventListener("click", () => moveClock(button.dataset.clock, button));
  });
  document.addEventListener("click", (event) => {
    const anchor = event.target.closest("a[data-start-link]");
    if (!anchor) return;
    event.preventDefault();
    openStartLink(anchor.dataset.startLink, null);
  });
  setInterval(tickClock, 15000);
  connect();
});
