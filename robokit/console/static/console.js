// robokit console: one WebSocket; JSON state as text, camera frames as binary, commands as JSON.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const QUICK = ["move a bit to the left", "move a bit to the right", "go lower", "go higher",
  "open the gripper", "close the gripper"];  // until the run names its own instructions
const CONTROLS = [["pause", "Pause"], ["resume", "Resume"], ["stop", "Stop"],
  ["success", "Success"], ["failure", "Failure"]];
const images = new Map();   // "actor/camera" -> <img>
const urls = new Map();     // "actor/camera" -> object URL shown now
let socket = null;
let knownActors = "";
let quickShown = "";
// frames shown per camera and their age when shown (s since the learner took them): bench console
window.consoleStats = { frames: {}, ages: [] };

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => setLink("connected", "ok");
  socket.onclose = (event) => {
    setLink(event.code === 4403 ? "refused: wrong token or page" : "disconnected, retrying…", "bad");
    if (event.code !== 4403) setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") onText(JSON.parse(event.data));
    else onFrame(event.data);
  };
}

function setLink(text, kind) {
  const pill = document.getElementById("link");
  pill.textContent = text;
  pill.className = `pill ${kind}`;
}

function onText(message) {
  if (message.t === "state") return showState(message);
  const result = document.getElementById("say-result");
  if (message.t === "said") {
    const who = message.actor === -1 ? "every actor" : `actor ${message.actor}`;
    result.textContent = `correction ${message.id} sent to ${who}: “${message.text}” ` +
      `(${message.actors} connected actor(s) will get it)`;
    result.className = "ok";
  } else if (message.t === "controlled") {
    result.textContent = `${message.command} sent to actor ${message.actor} (control ${message.id})`;
    result.className = "ok";
  } else if (message.t === "error") {
    result.textContent = `not sent: ${message.reason}`;
    result.className = "bad";
  }
}

function onFrame(buffer) {
  const length = new DataView(buffer).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
  const key = `${header.actor}/${header.camera}`;
  const img = images.get(key);
  if (!img) return;
  const url = URL.createObjectURL(new Blob([new Uint8Array(buffer, 4 + length)], { type: "image/jpeg" }));
  img.onload = () => {
    const stats = window.consoleStats;
    stats.frames[key] = (stats.frames[key] || 0) + 1;
    stats.ages.push(Date.now() / 1000 - header.received);
    if (stats.ages.length > 5000) stats.ages.shift();
  };
  img.src = url;
  img.dataset.seq = header.seq;
  if (urls.has(key)) URL.revokeObjectURL(urls.get(key));
  urls.set(key, url);
}

function showState(state) {
  if (state.learner) setLink(`learner: ${state.learner}`, "bad");  // a console in its own process
  else if (socket && socket.readyState === WebSocket.OPEN) setLink("connected", "ok");
  const rates = state.rates;
  document.getElementById("rates").textContent =
    `${state.env_steps} env steps · ${rates.env_steps_per_s} env steps/s · ${rates.updates_per_s} updates/s`;
  const ids = state.actors.map((a) => a.actor).join(",");
  if (ids !== knownActors) buildActors(state);
  for (const a of state.actors) {
    const row = document.getElementById(`actor-${a.actor}`);
    const success = a.recent_success === null ? "–" : `${Math.round(100 * a.recent_success)}%`;
    const stale = a.seen_s_ago !== null && a.seen_s_ago > 5;
    const seen = a.seen_s_ago === null ? "no steps yet" : `seen ${a.seen_s_ago.toFixed(1)} s ago`;
    row.querySelector(".stats").textContent =
      `step ${a.episode_steps} · return ${a.episode_return.toFixed(2)} · ${a.episodes} episodes · ` +
      `success ${success} · ${a.env_steps} env steps · ${seen}`;
    row.querySelector(".arm").textContent = armText(a);
    const link = a.link || {};
    const mode = link.stopping ? "stopping" : link.paused ? "paused" : a.link ? "running" : "–";
    const badge = row.querySelector(".mode");
    badge.textContent = mode;
    badge.className = `mode pill ${mode}`;
    row.querySelector(".instruction").textContent =
      `instruction: ${link.instruction || "–"} · this episode labelled: ${link.label || "–"}`;
    row.querySelector(".verdict").hidden = !link.waiting;
    row.classList.toggle("stale", stale);
  }
  for (const [actor, camera] of state.cameras) ensureImage(actor, camera);
  drawProgress(state.progress, state.evaluations || []);
  showActions(state.actions || []);
  showQuick(state.quick && state.quick.length ? state.quick : QUICK);
}

function armText(a) {
  if (!a.tcp) return "arm: –";
  const [x, y, z] = a.tcp.map((v) => v.toFixed(3));
  return `TCP x ${x} y ${y} z ${z} m · gripper ${a.gripper.toFixed(3)} m`;
}

function showActions(actions) {
  const list = document.getElementById("actions");
  const key = actions.map((a) => `${a.time}/${a.actor}`).join(",");
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.textContent = "";
  for (const a of actions.slice().reverse()) {
    const item = document.createElement("li");
    const when = new Date(a.time * 1000).toLocaleTimeString();
    item.textContent = `${when} actor ${a.actor} ${a.acted ? "acted on" : "could not act on"} “${a.what}”`;
    list.appendChild(item);
  }
}

function showQuick(phrases) {
  if (phrases.join("|") === quickShown) return;
  quickShown = phrases.join("|");
  const box = document.getElementById("quick");
  box.textContent = "";
  for (const phrase of phrases) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = phrase;
    button.addEventListener("click", () => say(phrase));
    box.appendChild(button);
  }
}

function buildActors(state) {
  knownActors = state.actors.map((a) => a.actor).join(",");
  const box = document.getElementById("actors");
  box.textContent = "";
  images.clear();
  const select = document.getElementById("say-actor");
  select.length = 1;
  for (const a of state.actors) {
    const row = document.createElement("div");
    row.className = "actor";
    row.id = `actor-${a.actor}`;
    row.innerHTML = `<h3>actor ${a.actor} <span class="mode pill">–</span></h3>` +
      `<p class="stats"></p><p class="arm stats"></p><p class="instruction stats"></p>` +
      `<p class="verdict" hidden>The reward classifier claims a success: Success confirms it, ` +
      `Failure rejects it.</p>` +
      `<div class="controls"></div><div class="cameras"></div>`;
    for (const [command, label] of CONTROLS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.className = `control ${command}`;
      button.dataset.command = command;
      button.addEventListener("click", () => send({ t: "control", command, actor: a.actor }));
      row.querySelector(".controls").appendChild(button);
    }
    box.appendChild(row);
    select.add(new Option(`actor ${a.actor}`, String(a.actor)));
  }
}

function ensureImage(actor, camera) {
  const key = `${actor}/${camera}`;
  if (images.has(key)) return;
  const row = document.getElementById(`actor-${actor}`);
  if (!row) return;
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.alt = `actor ${actor}, camera ${camera}`;
  img.className = "camera";
  img.dataset.key = key;
  const caption = document.createElement("figcaption");
  caption.textContent = camera;
  figure.append(img, caption);
  row.querySelector(".cameras").appendChild(figure);
  images.set(key, img);
}

function drawProgress(points, evaluations) {
  const canvas = document.getElementById("progress");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 30;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#bbb";
  ctx.strokeRect(pad, 5, w - pad - 5, h - pad - 5);
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.fillText("100%", 0, 12);
  ctx.fillText("0%", 8, h - pad);
  if (points.length === 0 && evaluations.length === 0) return;
  const last = (rows) => (rows.length ? rows[rows.length - 1][0] : 0);
  const maxSteps = Math.max(1, last(points), last(evaluations));
  ctx.fillText(`${maxSteps} env steps`, w - 110, h - 8);
  ctx.strokeStyle = "#1f77b4";
  ctx.lineWidth = 2;
  ctx.beginPath();
  const window = [];
  points.forEach(([steps, success], i) => {
    window.push(success ? 1 : 0);
    if (window.length > 20) window.shift();
    const rate = window.reduce((s, v) => s + v, 0) / window.length;
    const x = pad + (w - pad - 5) * (steps / maxSteps);
    const y = 5 + (h - pad - 10) * (1 - rate);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = "#d62728";  // evaluations on fresh episodes: dots
  for (const [steps, rate] of evaluations) {
    const x = pad + (w - pad - 5) * (steps / maxSteps);
    const y = 5 + (h - pad - 10) * (1 - rate);
    ctx.beginPath();
    ctx.arc(x, y, 4, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function send(command) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    const result = document.getElementById("say-result");
    result.textContent = "not sent: the console is not connected";
    result.className = "bad";
    return;
  }
  socket.send(JSON.stringify(command));
}

function say(text) {
  send({ t: "say", text, actor: Number(document.getElementById("say-actor").value) });
}

document.getElementById("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const box = document.getElementById("say-text");
  if (box.value.trim()) say(box.value);
});
showQuick(QUICK);
connect();
