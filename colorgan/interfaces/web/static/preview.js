// Re-colouring while a person guides the colour: the photo at the working size is sent with
// the points and the reference to POST /api/colorize (the preview) and to POST /api/suggest
// (colours at a point). The working-size photo is made once per size from the card's first
// full result: it is upright exactly as the server sees the photo (EXIF orientation applied
// there) and any format the server reads works, even ones the browser cannot show (TIFF);
// the server only uses its lightness, which the result keeps.
"use strict";

export const settings = { health: null };
const DEBOUNCE_MS = 250;
const MAX_RETRIES = 30;

export function workingSize() {
  const chosen = document.querySelector("#size").value;
  return Number(chosen || (settings.health && settings.health.working_size) || 256);
}

export function vividness() {
  const input = document.querySelector("#vividness");
  return input.disabled ? null : input.value;
}

// The photo at the working size (a PNG Blob) and its size; cached per working size.
async function source(card) {
  const size = workingSize();
  const g = card.guide;
  if (g.source && g.source.size === size) return g.source;
  const img = new Image();
  img.src = card.firstUrl;
  await img.decode();
  const scale = size / Math.max(card.width, card.height);
  const scaled = await scaledPng(img, card.width, card.height, scale);
  g.source = { size, ...scaled };
  return g.source;
}

// An image (img, bitmap) `width` x `height` scaled by `scale`, smoothly, as a PNG Blob:
// {blob, width, height}.
export async function scaledPng(image, width, height, scale) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return { blob, width: canvas.width, height: canvas.height };
}

// Hints in the pixels of an image `width` x `height` of the same photo: the same mapping of
// pixel centres as the server's resize, kept inside the image.
export function hintsFor(card, width, height, skip = null) {
  return card.guide.points
    .filter((p) => p !== skip)
    .map((p) => ({
      x: scaled(p.x, card.width, width),
      y: scaled(p.y, card.height, height),
      color: p.color,
      size: p.size,
    }));
}

function scaled(value, from, to) {
  if (from === to) return value;
  const v = ((value + 0.5) * to) / from - 0.5;
  return Math.min(Math.max(v, 0), to - 1);
}

// The form of a request: the photo, the hints (if any) and the reference (if any).
export function form(card, image, name, hints) {
  const body = new FormData();
  body.append("image", image, name);
  if (hints.length) body.append("hints", JSON.stringify(hints));
  if (card.guide.reference) {
    body.append("reference", card.guide.reference, card.guide.referenceName);
  }
  return body;
}

// POST with the server's busy answer (503) retried after its Retry-After; -> Response.
export async function post(url, body) {
  for (let attempt = 0; ; attempt++) {
    const answer = await fetch(url, { method: "POST", body });
    if (answer.status !== 503 || attempt >= MAX_RETRIES) return answer;
    const wait = Number(answer.headers.get("Retry-After")) || 2;
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}

export async function errorOf(answer) {
  const text = await answer.text();
  try {
    return JSON.parse(text).error;
  } catch (err) {
    return `HTTP ${answer.status}: ${text.slice(0, 200)}`;
  }
}

// A preview after the changes stop for DEBOUNCE_MS; one request at a time per card, and
// one more when something changed while it ran, so the last state is always shown.
export function schedulePreview(card) {
  const g = card.guide;
  g.version += 1;
  card.el.classList.add("stale");
  const link = card.el.querySelector(".download");
  link.textContent = "Download full size";
  link.title = "colours the photo at full size with these settings, then downloads it";
  card.el.dataset.pending = "1"; // until the preview of this state is shown
  clearTimeout(g.timer);
  g.timer = setTimeout(() => {
    g.timer = null;
    runPreview(card);
  }, DEBOUNCE_MS);
}

async function runPreview(card) {
  const g = card.guide;
  if (g.running) {
    g.again = true;
    return;
  }
  g.running = true;
  card.el.classList.add("previewing");
  try {
    do {
      g.again = false;
      await previewOnce(card);
    } while (g.again);
  } finally {
    g.running = false;
    card.el.classList.remove("previewing");
    if (!g.timer) card.el.dataset.pending = "0";
  }
}

async function previewOnce(card) {
  const errorText = card.el.querySelector(".error-text");
  const status = card.el.querySelector(".status");
  status.textContent = "updating preview…";
  try {
    const src = await source(card);
    const params = new URLSearchParams({
      size: src.size,
      saturation: document.querySelector("#saturation").value,
      format: "png",
    });
    const vivid = vividness();
    if (vivid !== null) params.set("vividness", vivid);
    const hints = hintsFor(card, src.width, src.height);
    const body = form(card, src.blob, "preview.png", hints);
    const answer = await post(`/api/colorize?${params}`, body);
    if (!answer.ok) throw new Error(await errorOf(answer));
    if (!card.el.classList.contains("stale")) return; // a full-size result of this state came in
    showPreview(card, await answer.blob());
    errorText.textContent = "";
    status.textContent = `preview at ${src.size} px`;
  } catch (err) {
    errorText.textContent = err.message;
    status.textContent = "preview failed";
  }
}

function showPreview(card, blob) {
  const g = card.guide;
  if (g.previewUrl) URL.revokeObjectURL(g.previewUrl);
  g.previewUrl = URL.createObjectURL(blob);
  const result = card.el.querySelector(".result");
  // shown as big as the full result would be (it is the working size, much smaller)
  result.style.width = `min(${card.width}px, calc(70vh * ${card.width / card.height}))`;
  result.src = g.previewUrl;
  card.el.dataset.previews = String(Number(card.el.dataset.previews || 0) + 1);
}

// The k most likely colours at a point, given the other points and the reference.
export async function suggestions(card, point, k = 6) {
  const src = await source(card);
  const x = scaled(point.x, card.width, src.width);
  const y = scaled(point.y, card.height, src.height);
  const params = new URLSearchParams({ x, y, k, size: src.size });
  const others = hintsFor(card, src.width, src.height, point);
  const answer = await post(`/api/suggest?${params}`, form(card, src.blob, "preview.png", others));
  if (!answer.ok) throw new Error(await errorOf(answer));
  return answer.json();
}
