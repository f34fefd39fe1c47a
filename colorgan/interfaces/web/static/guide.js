// Guiding the colour of one card (guided models): colour points placed on the photo (click;
// drag to move; right click, Delete or the list's button to remove; "Add point" and the
// arrow keys for keyboards), each with a colour picker and the model's suggested colours
// there, and a reference photo whose colours to follow. Every change re-colours a preview at
// the working size (preview.js); the download stays full size (app.js colours it again).
"use strict";

import { scaledPng, schedulePreview, settings, suggestions } from "./preview.js";

const $ = (sel, root = document) => root.querySelector(sel);
const REFERENCE_SIDE = 512; // the server reads the reference at 128 px: send it small

export function setUpGuide(card) {
  card.guide = {
    points: [], next: 1, reference: null, referenceName: "", source: null, version: 0,
  };
  const health = settings.health;
  if (!health || !health.guided) return;
  const el = card.el;
  $(".guide", el).hidden = false;
  el.classList.add("guided");
  const layer = $(".markers", el);
  layer.addEventListener("click", (event) => {
    if (event.target !== layer || !el.classList.contains("done")) return;
    const [x, y] = pixelAt(card, event);
    addPoint(card, x, y);
  });
  $(".add-point", el).addEventListener("click", () => {
    const point = addPoint(card, Math.floor(card.width / 2), Math.floor(card.height / 2));
    point.marker.focus();
  });
  $(".clear-points", el).addEventListener("click", () => {
    for (const point of [...card.guide.points]) removePoint(card, point, false);
    schedulePreview(card);
  });
  setUpReference(card);
}

function pixelAt(card, event) {
  const box = $(".markers", card.el).getBoundingClientRect();
  const fx = (event.clientX - box.left) / box.width;
  const fy = (event.clientY - box.top) / box.height;
  const clamp = (v, n) => Math.min(Math.max(Math.floor(v * n), 0), n - 1);
  return [clamp(fx, card.width), clamp(fy, card.height)];
}

function addPoint(card, x, y) {
  const point = { id: card.guide.next++, x, y, size: 3, color: colourShownAt(card, x, y) };
  point.item = $("#point-template").content.firstElementChild.cloneNode(true);
  point.marker = document.createElement("button");
  point.marker.type = "button";
  point.marker.className = "marker";
  $(".markers", card.el).append(point.marker);
  $(".points", card.el).append(point.item);
  card.guide.points.push(point);
  wirePoint(card, point);
  place(card, point);
  setColour(card, point, point.color);
  loadSuggestions(card, point);
  return point;
}

// The colour the photo has there now: a new point changes nothing until a colour is chosen.
function colourShownAt(card, x, y) {
  const img = $(".result", card.el);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  const sx = Math.floor(((x + 0.5) * img.naturalWidth) / card.width);
  const sy = Math.floor(((y + 0.5) * img.naturalHeight) / card.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, sx, sy, 1, 1, 0, 0, 1, 1);
  const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
  return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
}

function wirePoint(card, point) {
  const { item, marker } = point;
  const picker = $(".point-color", item);
  picker.addEventListener("input", () => setColour(card, point, picker.value));
  $(".point-remove", item).addEventListener("click", () => removePoint(card, point));
  marker.addEventListener("contextmenu", (event) => {
    event.preventDefault();
    removePoint(card, point);
  });
  marker.addEventListener("keydown", (event) => keyOnMarker(card, point, event));
  marker.addEventListener("pointerdown", (event) => drag(card, point, event));
  marker.addEventListener("click", () => picker.focus());
}

function setColour(card, point, colour) {
  point.color = colour;
  $(".point-color", point.item).value = colour;
  point.marker.style.backgroundColor = colour;
  label(point);
  schedulePreview(card);
}

function place(card, point) {
  point.marker.style.left = `${(100 * (point.x + 0.5)) / card.width}%`;
  point.marker.style.top = `${(100 * (point.y + 0.5)) / card.height}%`;
  label(point);
}

function label(point) {
  const where = `point ${point.id} at x ${point.x}, y ${point.y}, colour ${point.color}`;
  $(".point-name", point.item).textContent = `Point ${point.id} (${point.x}, ${point.y})`;
  $(".point-color", point.item).setAttribute("aria-label", `colour of point ${point.id}`);
  $(".point-remove", point.item).setAttribute("aria-label", `remove point ${point.id}`);
  point.marker.setAttribute(
    "aria-label",
    `${where}: arrow keys move it, Delete removes it, right click removes it`,
  );
  point.marker.title = `point ${point.id}: drag to move, right click to remove`;
}

function removePoint(card, point, preview = true) {
  card.guide.points = card.guide.points.filter((p) => p !== point);
  point.item.remove();
  point.marker.remove();
  if (preview) schedulePreview(card);
}

function keyOnMarker(card, point, event) {
  // a step is 1 % of the photo's long side (5 % with Shift)
  const unit = Math.max(1, Math.round(Math.max(card.width, card.height) / 100));
  const step = unit * (event.shiftKey ? 5 : 1);
  const moves = {
    ArrowLeft: [-step, 0],
    ArrowRight: [step, 0],
    ArrowUp: [0, -step],
    ArrowDown: [0, step],
  };
  if (event.key === "Delete" || event.key === "Backspace") {
    event.preventDefault();
    removePoint(card, point);
  } else if (moves[event.key]) {
    event.preventDefault();
    moveTo(card, point, point.x + moves[event.key][0], point.y + moves[event.key][1]);
    finishMove(card, point);
  }
}

function moveTo(card, point, x, y) {
  point.x = Math.min(Math.max(Math.round(x), 0), card.width - 1);
  point.y = Math.min(Math.max(Math.round(y), 0), card.height - 1);
  place(card, point);
}

function finishMove(card, point) {
  schedulePreview(card);
  clearTimeout(point.suggestTimer);
  point.suggestTimer = setTimeout(() => loadSuggestions(card, point), 300);
}

function drag(card, point, event) {
  if (event.button !== 0) return;
  const marker = point.marker;
  marker.setPointerCapture(event.pointerId);
  let moved = false;
  const onMove = (e) => {
    const [x, y] = pixelAt(card, e);
    moved = moved || x !== point.x || y !== point.y;
    moveTo(card, point, x, y);
  };
  const onUp = () => {
    marker.removeEventListener("pointermove", onMove);
    marker.removeEventListener("pointerup", onUp);
    if (moved) finishMove(card, point);
  };
  marker.addEventListener("pointermove", onMove);
  marker.addEventListener("pointerup", onUp);
}

async function loadSuggestions(card, point) {
  const box = $(".swatches", point.item);
  if (settings.health.head !== "distribution") return;
  box.textContent = "…";
  try {
    const found = await suggestions(card, point);
    box.textContent = "";
    for (const { color, p } of found) {
      const swatch = document.createElement("button");
      swatch.type = "button";
      swatch.className = "swatch";
      swatch.style.backgroundColor = color;
      swatch.title = `${color}: ${Math.round(100 * p)} % likely here`;
      swatch.setAttribute("aria-label", `use ${color} (${Math.round(100 * p)} % likely)`);
      swatch.addEventListener("click", () => setColour(card, point, color));
      box.append(swatch);
    }
    card.el.dataset.suggested = String(Number(card.el.dataset.suggested || 0) + 1);
  } catch (err) {
    box.textContent = `no suggestions: ${err.message}`;
  }
}

function setUpReference(card) {
  const el = card.el;
  const zone = $(".reference", el);
  const input = $(".reference-input", el);
  input.addEventListener("change", () => {
    if (input.files.length) setReference(card, input.files[0]);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) setReference(card, event.dataTransfer.files[0]);
  });
  $(".reference-remove", el).addEventListener("click", () => {
    card.guide.reference = null;
    el.classList.remove("has-reference");
    $(".reference-thumb", el).removeAttribute("src");
    schedulePreview(card);
  });
}

async function setReference(card, file) {
  const g = card.guide;
  g.reference = await shrunk(file);
  g.referenceName = file.name;
  const thumb = $(".reference-thumb", card.el);
  if (thumb.src) URL.revokeObjectURL(thumb.src);
  thumb.src = URL.createObjectURL(g.reference);
  thumb.alt = `reference photo ${file.name}`;
  card.el.classList.add("has-reference");
  schedulePreview(card);
}

// The reference at most REFERENCE_SIDE px as PNG (it is re-sent with every preview); a
// format the browser cannot decode (TIFF...) goes as it is, and the server reads it.
async function shrunk(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (err) {
    return file;
  }
  const scale = Math.min(1, REFERENCE_SIDE / Math.max(bitmap.width, bitmap.height));
  return (await scaledPng(bitmap, bitmap.width, bitmap.height, scale)).blob;
}
