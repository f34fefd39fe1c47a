// colorgan page. Photos go one at a time to POST /api/colorize, the same REST API scripts use,
// so the server's queue is left to other users; when it is full (503) the page waits the
// Retry-After time and tries again. XMLHttpRequest rather than fetch: fetch cannot report
// upload progress, and big scans take a while to send. These full-size requests carry the
// card's colour points and reference (guide.js); previews at the working size are
// preview.js's.
"use strict";

import { setUpGuide } from "./guide.js";
import { form, hintsFor, schedulePreview, settings, vividness } from "./preview.js";

const $ = (sel, root = document) => root.querySelector(sel);
const MAX_RETRIES = 30;
const limits = { maxBytes: Infinity, maxMb: null };
const queue = [];
let pumping = false;

function options() {
  const params = new URLSearchParams({
    saturation: $("#saturation").value,
    format: $("#format").value,
  });
  const vivid = vividness();
  if (vivid !== null) params.set("vividness", vivid);
  if ($("#size").value) params.set("size", $("#size").value);
  if ($("#detail").checked) params.set("mode", "hybrid");
  if ($("#restore").checked) params.set("restore", "default");
  return params;
}

async function loadHealth() {
  try {
    const health = await (await fetch("/api/health")).json();
    settings.health = health;
    limits.maxMb = health.max_upload_mb;
    limits.maxBytes = health.max_upload_mb * 1024 * 1024;
    $("#limits").textContent = `JPEG, PNG, TIFF, WebP… up to ${health.max_upload_mb} MB each`;
    $("#size-default").textContent = `model's own (${health.working_size} px)`;
    $("#model").textContent = `model: ${health.model} (${health.device})`;
    setUpVividness(health);
  } catch (err) {
    $("#model").textContent = "the server does not answer";
  }
}

// How vivid the distribution head's colour is (0 muted .. 1 most vivid); other models have
// no such knob (the slider stays off).
function setUpVividness(health) {
  const input = $("#vividness");
  const wrap = $("#vividness-control");
  if (health.head === "distribution") {
    input.disabled = false;
    input.value = health.vividness;
    $("#vividness-value").textContent = Number(input.value).toFixed(2);
    wrap.title =
      "how vivid the colour is: 0 = muted, 1 = most vivid";
  } else {
    wrap.title =
      "this model predicts one colour per pixel: " +
      "vividness applies to distribution-head models only";
  }
}

function makeCard(file) {
  const el = $("#card-template").content.firstElementChild.cloneNode(true);
  const card = { el, file, resultUrl: null, firstUrl: null, width: 0, height: 0 };
  $(".name", el).textContent = file.name;
  const original = $(".original", el);
  original.addEventListener("error", () => el.classList.add("no-preview"), { once: true });
  original.src = URL.createObjectURL(file);
  $(".slider", el).addEventListener("input", (event) => setSplit(el, event.target.value));
  $(".redo", el).addEventListener("click", () => enqueue(card));
  $(".download", el).addEventListener("click", (event) => {
    // after a change only a preview is shown: colour the full size first, then download
    if (!el.classList.contains("stale")) return;
    event.preventDefault();
    card.downloadWhenDone = true;
    enqueue(card);
  });
  setSplit(el, 50);
  setUpGuide(card);
  return card;
}

function setSplit(el, percent) {
  $(".before", el).style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  $(".divider", el).style.left = `${percent}%`;
}

function setState(card, state, text) {
  card.el.classList.remove("queued", "working", "done", "error");
  card.el.classList.add(state);
  setStatus(card, text);
}

function setStatus(card, text) {
  $(".status", card.el).textContent = text;
}

const allCards = [];

function cards() {
  return allCards.filter((card) => card.el.isConnected);
}

async function addFiles(fileList) {
  const files = [...fileList]; // the list empties when the input is reset
  await healthLoaded; // the cards offer what the model can do
  for (const file of files) {
    const card = makeCard(file);
    allCards.push(card);
    $("#results").append(card.el);
    enqueue(card);
  }
}

function enqueue(card) {
  if (queue.includes(card) || card.el.classList.contains("working")) return;
  setState(card, "queued", "waiting");
  queue.push(card);
  pump();
}

async function pump() {
  if (pumping) return;
  pumping = true;
  while (queue.length) await colourOne(queue.shift());
  pumping = false;
}

async function colourOne(card) {
  $(".error-text", card.el).textContent = "";
  if (card.file.size > limits.maxBytes) {
    return fail(card, `${card.file.name}: over the server's ${limits.maxMb} MB upload limit`);
  }
  const params = options();
  const version = card.guide.version; // the points and reference this request carries
  for (let attempt = 0; ; attempt++) {
    setState(card, "working", "uploading");
    let xhr;
    try {
      xhr = await send(card, params);
    } catch (err) {
      return fail(card, err.message);
    }
    if (xhr.status === 503 && attempt < MAX_RETRIES) {
      const wait = Number(xhr.getResponseHeader("Retry-After")) || 2;
      setStatus(card, `server busy, trying again in ${wait} s`);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    if (xhr.status !== 200) return fail(card, await errorText(xhr));
    return show(card, xhr, params, version);
  }
}

function send(card, params) {
  const progress = $(".progress", card.el);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let timer = null;
    const stopTimer = () => clearInterval(timer);
    xhr.open("POST", `/api/colorize?${params}`);
    xhr.responseType = "blob";
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return;
      progress.value = event.loaded / event.total;
      setStatus(card, `uploading ${Math.round(100 * progress.value)} %`);
    };
    xhr.upload.onload = () => {
      // The network gives no progress of its own: an indeterminate bar and a clock.
      const start = performance.now();
      progress.removeAttribute("value");
      const tick = () => {
        const seconds = Math.round((performance.now() - start) / 1000);
        setStatus(card, `colouring… ${seconds} s`);
      };
      tick();
      timer = setInterval(tick, 500);
    };
    xhr.onprogress = (event) => {
      stopTimer();
      if (!event.lengthComputable) return;
      progress.value = event.loaded / event.total;
      setStatus(card, `receiving ${Math.round(100 * progress.value)} %`);
    };
    xhr.onload = () => {
      stopTimer();
      resolve(xhr);
    };
    xhr.onerror = () => {
      stopTimer();
      reject(new Error("network error: is the server still running?"));
    };
    // points in the photo's own pixels (card.width x card.height: the first result's size)
    const hints = hintsFor(card, card.width, card.height);
    xhr.send(form(card, card.file, card.file.name, hints));
  });
}

async function errorText(xhr) {
  const text = await xhr.response.text();
  try {
    return JSON.parse(text).error;
  } catch (err) {
    return `HTTP ${xhr.status}: ${text.slice(0, 200)}`;
  }
}

function fail(card, message) {
  const progress = $(".progress", card.el);
  progress.value = 0;
  $(".error-text", card.el).textContent = message;
  setState(card, "error", "failed");
}

async function show(card, xhr, params, version) {
  if (card.resultUrl && card.resultUrl !== card.firstUrl) URL.revokeObjectURL(card.resultUrl);
  card.resultUrl = URL.createObjectURL(xhr.response);
  const result = $(".result", card.el);
  result.style.width = ""; // a preview may have stretched it
  await new Promise((resolve) => {
    result.onload = resolve;
    result.onerror = resolve;
    result.src = card.resultUrl;
  });
  if (!card.firstUrl) {
    // kept: the working-size photo of the previews is made from it (preview.js)
    card.firstUrl = card.resultUrl;
    [card.width, card.height] = [result.naturalWidth, result.naturalHeight];
    card.el.classList.add("has-result"); // the points panel stays from now on
  }
  if (card.el.classList.contains("no-preview")) {
    // The browser cannot show the original (TIFF...). The result keeps its lightness, so
    // the result in grayscale stands in for it.
    $(".original", card.el).src = card.resultUrl;
  }
  const link = $(".download", card.el);
  link.href = card.resultUrl;
  link.download = filename(xhr.getResponseHeader("Content-Disposition"));
  link.textContent = `Download ${result.naturalWidth} × ${result.naturalHeight}`;
  link.title = "";
  const seconds = xhr.getResponseHeader("X-Colorgan-Seconds");
  $(".meta", card.el).textContent =
    `${megabytes(xhr.response.size)} · coloured in ${seconds} s · ` +
    `saturation ${params.get("saturation")}` +
    (params.has("vividness") ? ` · vividness ${params.get("vividness")}` : "") +
    (params.has("restore") ? " · repaired" : "") +
    guidance(card);
  $(".progress", card.el).value = 1;
  setState(card, "done", "done");
  if (card.guide.version !== version) {
    // the points or reference changed while this was coloured: preview the new state
    schedulePreview(card);
    if (card.downloadWhenDone) enqueue(card);
    return;
  }
  card.el.classList.remove("stale");
  if (card.downloadWhenDone) {
    card.downloadWhenDone = false;
    link.click();
  }
}

function guidance(card) {
  const n = card.guide.points.length;
  const points = n ? ` · ${n} colour point${n > 1 ? "s" : ""}` : "";
  return points + (card.guide.reference ? " · reference photo" : "");
}

function previewAll() {
  for (const card of cards()) if (card.firstUrl) schedulePreview(card);
}

function filename(disposition) {
  const match = /filename="([^"]+)"/.exec(disposition || "");
  return match ? match[1] : "photo_color.png";
}

function megabytes(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MB`;
}

function wire() {
  const drop = $("#drop");
  const input = $("#file-input");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => addFiles(event.dataTransfer.files));
  // A photo dropped beside the zone must not make the browser leave the page to show it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") input.click();
  });
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  for (const name of ["saturation", "vividness"]) {
    $(`#${name}`).addEventListener("input", (event) => {
      $(`#${name}-value`).textContent = Number(event.target.value).toFixed(2);
    });
    // let go of the slider: the photos coloured so far are previewed with the new value
    $(`#${name}`).addEventListener("change", previewAll);
  }
  $("#size").addEventListener("change", previewAll);
  $("#view").addEventListener("change", (event) => {
    $("#results").classList.toggle("side", event.target.value === "side");
    $("#results").classList.toggle("slider", event.target.value === "slider");
  });
  $("#redo-all").addEventListener("click", () => {
    for (const el of document.querySelectorAll(".card")) el.querySelector(".redo").click();
  });
}

const healthLoaded = loadHealth();
wire();
