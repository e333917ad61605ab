// longvid web page: upload or pick a video, follow its indexing, ask, and jump to cited moments.
// Plain JS, no build step. Every API call sends the API key (if one is set) as a Bearer header;
// <video> and <img> cannot send headers, so the key is also kept in a same-site cookie that the
// server accepts on the media routes only.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, video: null, timeline: null };
const KEY = "longvid_api_key";

function apiKey() { return localStorage.getItem(KEY) || ""; }
function setKey(k) {
  k = k.trim().replace(/[;\s]/g, "");
  localStorage.setItem(KEY, k);
  document.cookie = `${KEY}=${k}; path=/v1; SameSite=Strict` + (k ? "" : "; max-age=0");
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (apiKey()) h["Authorization"] = "Bearer " + apiKey();
  return h;
}

async function api(path, opts) {
  opts = opts || {};
  const r = await fetch(path, Object.assign({}, opts, { headers: headers(opts.headers) }));
  if (!r.ok) {
    let msg = `${r.status} ${r.statusText}`;
    try { msg = (await r.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

// server-sent events from a fetch() response (EventSource cannot send the Authorization header)
async function* sse(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message", data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

function showError(e) { $("error").textContent = e ? (e.message || String(e)) : ""; }
function fmt(s) {
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
function seek(t) { const p = $("player"); p.currentTime = t; }

async function loadModels() {
  const body = await (await api("/v1/models")).json();
  state.model = body.data[0].id;
  $("model").textContent = state.model;
}

async function loadVideos() {
  const body = await (await api("/v1/videos")).json();
  const sel = $("videos");
  sel.length = 1;
  for (const v of body.data) {
    const o = document.createElement("option");
    o.value = v.id;
    o.textContent = `${v.name} (${fmt(v.duration_s)}, ${v.state})`;
    sel.appendChild(o);
  }
}

function showProgress(rec) {
  $("progress").value = rec.progress;
  const pct = Math.round(rec.progress * 100);
  const what = { queued: "waiting to index", running: `indexing: ${rec.stage || "starting"} (${pct}%)`,
                 done: "indexed: ask a question", failed: "indexing failed" }[rec.state] || rec.state;
  $("status").textContent = `${rec.name}: ${what}`;
  document.body.dataset.state = rec.state;
}

async function select(rec) {
  showError(null);
  state.video = rec;
  state.timeline = null;
  $("player").src = `/v1/videos/${rec.id}/file`;
  $("answer").textContent = "";
  $("chips").replaceChildren();
  $("moments").replaceChildren();
  $("timeline").replaceChildren();
  $("timeline-note").textContent = "";
  $("question").disabled = $("ask").disabled = true;
  showProgress(rec);
  if (rec.state === "done") return ready(rec);
  const r = await api(`/v1/videos/${rec.id}/events`);
  for await (const ev of sse(r)) {
    const now = JSON.parse(ev.data);
    if (state.video.id !== rec.id) return;  // another video was picked meanwhile
    showProgress(now);
    if (ev.event === "done") return ready(now);
    if (ev.event === "failed") throw new Error(now.error ? now.error.message : "indexing failed");
  }
}

async function ready(rec) {
  showProgress(rec);
  $("question").disabled = $("ask").disabled = false;
  loadVideos().catch(showError);
  try {
    state.timeline = await (await api(`/v1/videos/${rec.id}/timeline`)).json();
    drawTimeline(state.timeline);
  } catch (e) {
    $("timeline-note").textContent = e.message;  // engines without an index have no timeline
  }
}

function drawTimeline(t) {
  const strip = $("timeline");
  strip.replaceChildren();
  const dur = t.duration_s || 1;
  let prev = null;
  for (const s of t.segments) {
    const d = document.createElement("div");
    d.className = "seg";
    // a new scene (not just a long scene split in pieces) when what it shows changes
    if (prev && (prev.tags.join() !== s.tags.join() || prev.on_screen_text !== s.on_screen_text)) d.classList.add("scene-start");
    d.style.left = `${(100 * s.start_s) / dur}%`;
    d.style.width = `${(100 * (s.end_s - s.start_s)) / dur}%`;
    if (s.keyframe_url) d.style.backgroundImage = `url("${s.keyframe_url}")`;
    d.title = `${fmt(s.start_s)}-${fmt(s.end_s)} ${s.on_screen_text || s.transcript || ""}`.trim();
    d.addEventListener("click", () => seek(s.start_s));
    strip.appendChild(d);
    prev = s;
  }
  const head = document.createElement("div");
  head.className = "head";
  head.id = "playhead";
  strip.appendChild(head);
  $("timeline-note").textContent =
    `${t.segments.length} timeline segments; the compression kept ${t.kept_frames} of ${t.frames} sampled frames`;
}

function showMoments(lv) {
  $("answer").classList.toggle("ungrounded", !lv.grounded);
  const chips = $("chips"), cards = $("moments"), strip = $("timeline");
  chips.replaceChildren();
  cards.replaceChildren();
  strip.querySelectorAll(".cited").forEach((n) => n.remove());
  const dur = (state.timeline && state.timeline.duration_s) || state.video.duration_s || 1;
  for (const m of lv.moments) {
    const chip = document.createElement("button");
    chip.className = "chip";
    chip.type = "button";
    chip.textContent = m.label;
    chip.dataset.start = m.start_s;
    chip.addEventListener("click", () => seek(m.start_s));
    chips.appendChild(chip);

    const card = document.createElement("div");
    card.className = "moment";
    const img = document.createElement("img");
    img.alt = `keyframe at ${m.label}`;
    if (m.keyframe_url) img.src = m.keyframe_url;
    img.addEventListener("click", () => seek(m.start_s));
    const text = document.createElement("div");
    const head = document.createElement("div");
    head.textContent = m.label;
    text.appendChild(head);
    if (m.transcript) { const p = document.createElement("div"); p.className = "said"; p.textContent = m.transcript; text.appendChild(p); }
    if (m.on_screen_text) { const p = document.createElement("div"); p.className = "shown"; p.textContent = m.on_screen_text; text.appendChild(p); }
    card.append(img, text);
    cards.appendChild(card);

    const mark = document.createElement("div");
    mark.className = "cited";
    mark.style.left = `${(100 * m.start_s) / dur}%`;
    mark.style.width = `${Math.max(0.5, (100 * (m.end_s - m.start_s)) / dur)}%`;
    strip.appendChild(mark);
  }
}

async function ask(ev) {
  ev.preventDefault();
  showError(null);
  const q = $("question").value.trim();
  if (!q || !state.video) return;
  $("answer").textContent = "";
  $("chips").replaceChildren();
  $("moments").replaceChildren();
  $("ask").disabled = true;
  document.body.dataset.state = "asking";
  try {
    const body = { model: state.model, stream: true, messages: [{ role: "user", content: [
      { type: "video_url", video_url: { url: `longvid://${state.video.id}` } }, { type: "text", text: q }] }] };
    const r = await api("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify(body) });
    for await (const e of sse(r)) {
      if (e.data === "[DONE]") break;
      const c = JSON.parse(e.data);
      if (c.error) throw new Error(c.error.message);
      const choice = c.choices && c.choices[0];
      if (choice && choice.delta && choice.delta.content) $("answer").textContent += choice.delta.content;
      if (c.longvid) showMoments(c.longvid);
    }
    document.body.dataset.state = "answered";
  } finally {
    $("ask").disabled = false;
  }
}

async function upload() {
  showError(null);
  const f = $("file").files[0];
  if (!f) throw new Error("choose a video file first");
  const fd = new FormData();
  fd.append("file", f, f.name);
  $("status").textContent = `uploading ${f.name}…`;
  document.body.dataset.state = "uploading";
  const rec = await (await api("/v1/videos", { method: "POST", body: fd })).json();
  await select(rec);
}

function init() {
  $("apikey").value = apiKey();
  setKey(apiKey());
  $("apikey").addEventListener("change", () => { setKey($("apikey").value); start(); });
  $("upload").addEventListener("click", () => upload().catch(showError));
  $("videos").addEventListener("change", async () => {
    const id = $("videos").value;
    if (!id) return;
    try { await select(await (await api(`/v1/videos/${id}`)).json()); } catch (e) { showError(e); }
  });
  $("askform").addEventListener("submit", (e) => ask(e).catch(showError));
  $("player").addEventListener("timeupdate", () => {
    const head = $("playhead"), p = $("player");
    if (head && p.duration) head.style.left = `${(100 * p.currentTime) / ((state.timeline && state.timeline.duration_s) || p.duration)}%`;
  });
  start();
}

function start() {
  showError(null);
  loadModels().then(loadVideos).catch(showError);
}

init();
