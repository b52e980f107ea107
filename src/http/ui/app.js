// The approvals page: sign in with an approver token (kept in this tab's sessionStorage), list
// the held tasks this approver may decide, approve or reject them. It calls the same admin API
// as `vcd-blockd holds`; the daemon decides what this approver may see and do.
"use strict";

const TOKEN_KEY = "vcd-blockd-token";
const REFRESH_MS = 15000;
const $ = (id) => document.getElementById(id);
let refreshTimer = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// Calls the admin API; resolves to the JSON answer, or throws an Error whose message is the
// API's explanation and whose `status` is the HTTP status.
async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: "Bearer " + token(), "Content-Type": "application/json" },
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error || response.status + " " + response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function show(id, text) {
  const element = $(id);
  element.textContent = text || "";
  element.hidden = !text;
}

// "1h30m", "2d3h", "45s": a span for people.
function span(ms) {
  if (ms <= 0) return "passed";
  let seconds = Math.floor(ms / 1000);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (seconds >= size) {
      parts.push(Math.floor(seconds / size) + unit);
      seconds %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join("") || "0s";
}

async function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token").value = "";
  await start();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refreshTimer);
  show("notice", "");
  show("error", "");
  render(null);
}

// Shows the signed-in view for `who`, or the sign-in form when `who` is null.
function render(who) {
  $("sign-in").hidden = who !== null;
  $("who").hidden = who === null;
  $("holds-section").hidden = who === null;
  if (who === null) {
    $("holds").replaceChildren();
    return;
  }
  $("who-name").textContent = who.name;
  const every = !who.orgs || who.orgs.length === 0 || who.orgs.includes("*");
  const orgs = every ? "all orgs" : who.orgs.join(", ");
  $("who-orgs").textContent = "(" + orgs + ")";
}

async function start() {
  if (!token()) {
    render(null);
    return;
  }
  try {
    render(await api("/v1/whoami"));
    show("error", "");
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    render(null);
    show("error", error.status === 401 ? "This token is not known to vcd-blockd." : error.message);
    return;
  }
  await refresh();
  clearInterval(refreshTimer);
  refreshTimer = setInterval(refresh, REFRESH_MS);
}

async function refresh() {
  let holds;
  try {
    holds = await api("/v1/holds");
  } catch (error) {
    if (error.status === 401) return signOut();
    show("error", "Cannot list held tasks: " + error.message);
    return;
  }
  const now = Date.now();
  const wanted = decodeURIComponent(location.hash.slice(1));
  const items = holds
    .sort((a, b) => Date.parse(a.since) - Date.parse(b.since))
    .map((hold) => card(hold, now, hold.id === wanted));
  $("holds").replaceChildren(...items);
  $("empty").hidden = holds.length > 0;
  const highlighted = document.querySelector(".hold.highlight");
  if (highlighted) highlighted.scrollIntoView({ block: "center" });
}

function card(hold, now, highlight) {
  const item = $("hold-template").content.firstElementChild.cloneNode(true);
  const set = (selector, text) => (item.querySelector(selector).textContent = text);
  item.id = "hold-" + hold.id;
  item.dataset.id = hold.id;
  item.classList.toggle("highlight", highlight);
  set(".operation", hold.operation);
  set(".org", "in " + hold.org);
  set(".user", hold.user);
  set(".owner", hold.owner_name || "—");
  set(".rule", hold.rule);
  if (hold.reason) {
    set(".reason", hold.reason);
    item.querySelector(".reason-label").hidden = false;
    item.querySelector(".reason").hidden = false;
  }
  set(".held-for", span(now - Date.parse(hold.since)));
  set(".deadline-in", span(Date.parse(hold.deadline) - now));
  set(".fallback", hold.fallback + " if nobody decides");
  set(".task-id", hold.id);
  const message = item.querySelector(".message");
  message.id = "message-" + hold.id;
  item.querySelector(".message-label").htmlFor = message.id;
  item.querySelector(".approve").addEventListener("click", () => decide(item, hold, "approve"));
  item.querySelector(".reject").addEventListener("click", () => decide(item, hold, "reject"));
  return item;
}

async function decide(item, hold, verb) {
  const buttons = item.querySelectorAll("button");
  buttons.forEach((button) => (button.disabled = true));
  const body = {};
  const message = item.querySelector(".message").value.trim();
  if (message) body.message = message;
  if (verb === "reject") body.action = item.querySelector(".reject-action").value;
  try {
    const answer = await api("/v1/holds/" + encodeURIComponent(hold.id) + "/" + verb, {
      method: "POST",
      body: JSON.stringify(body),
    });
    item.remove();
    $("empty").hidden = $("holds").children.length > 0;
    const done = { resume: "resumed", abort: "aborted", fail: "failed" }[answer.action] || "decided";
    show("notice", hold.operation + " in " + hold.org + " by " + hold.user + ": " + done + ".");
  } catch (error) {
    const why = {
      401: "Your token is no longer accepted; sign in again.",
      403: error.message,
      404: "vCD does not know this task any more.",
      409: "This task is not waiting any more (already decided): " + error.message,
    }[error.status] || error.message;
    const line = item.querySelector(".hold-error");
    line.textContent = why;
    line.hidden = false;
    buttons.forEach((button) => (button.disabled = false));
    if (error.status === 401) signOut();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("refresh").addEventListener("click", refresh);
  window.addEventListener("hashchange", refresh);
  start();
});
