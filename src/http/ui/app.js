// The approvals page: sign in with an approver token (kept in this tab's sessionStorage), list
// the held tasks this approver may decide, approve or reject them, and show what was decided
// lately (automatically or by people) in the approver's orgs. It calls the same admin API
// as `vcd-blockd holds`; the daemon decides what this approver may see and do.
"use strict";

const TOKEN_KEY = "vcd-blockd-token";
const REFRESH_MS = 15000;
const DECIDED_SHOWN = 20;
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
  $("decided-section").hidden = who === null;
  if (who === null) {
    $("holds").replaceChildren();
    $("decided").replaceChildren();
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
  await refreshDecided();
}

// "Decided lately": the latest decisions of the approver's orgs, newest first.
async function refreshDecided() {
  let decisions;
  try {
    decisions = await api("/v1/decisions?limit=" + DECIDED_SHOWN);
  } catch (error) {
    if (error.status === 401) return signOut();
    show("error", "Cannot list the latest decisions: " + error.message);
    return;
  }
  const now = Date.now();
  $("decided").replaceChildren(...decisions.map((decided) => decidedItem(decided, now)));
  $("decided-empty").hidden = decisions.length > 0;
}

function decidedItem(decided, now) {
  const item = $("decided-template").content.firstElementChild.cloneNode(true);
  const set = (selector, text) => (item.querySelector(selector).textContent = text);
  item.dataset.id = decided.task_id;
  const done = { resume: "Resumed", abort: "Aborted", fail: "Failed" }[decided.action] || decided.action;
  set(".action", done);
  set(".operation", decided.operation);
  set(".org", "in " + decided.org);
  set(".by", decided.approvers.length ? "by " + decided.approvers.join(", ") : "by the rule");
  set(".ago", span(now - Date.parse(decided.at)) + " ago");
  set(".user", "requested by " + decided.user);
  set(".rule", decided.rule);
  return item;
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
  const needed = hold.needed || 1;
  const approvals = hold.approvals || [];
  if (needed > 1 || approvals.length > 0) {
    const names = approvals.map((approval) => approval.approver).join(", ");
    set(".approvals", approvals.length + " of " + needed + (names ? ": " + names : ""));
    item.querySelector(".approvals").hidden = false;
    item.querySelector(".approvals-label").hidden = false;
  }
  if (hold.may_decide === false) {
    item.classList.add("not-yours");
    set(".why-not", "You may not decide this task: " + (hold.why_not || "not yours to decide") + ".");
    item.querySelector(".why-not").hidden = false;
    item.querySelectorAll("button, select, input").forEach((control) => (control.disabled = true));
  }
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
    if (answer.recorded) {
      const names = answer.approvals.map((approval) => approval.approver).join(", ");
      show("notice", "Your approval is recorded (" + answer.approvals.length + " of " + answer.needed + ": " + names + "); the task waits for another approver.");
      refresh();
      return;
    }
    item.remove();
    $("empty").hidden = $("holds").children.length > 0;
    const done = { resume: "resumed", abort: "aborted", fail: "failed" }[answer.action] || "decided";
    show("notice", hold.operation + " in " + hold.org + " by " + hold.user + ": " + done + ".");
    await refreshDecided();
  } catch (error) {
    const why = {
      401: "Your token is no longer accepted; sign in again.",
      403: error.message,
      404: "vCD does not know this task any more.",
      409: error.message,
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
