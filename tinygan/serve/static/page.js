// tinygan serve's page: a grid of faces with their ids, a tray of kept faces, variations of a
// face, blends of two, downloads. It talks to its own server only (the API in app.py).
"use strict";

const GRID = 16;          // faces in a grid, and variations shown at a time
const BLENDS = 7;         // faces between the two ends of a blend
const SAVED = "tinygan-kept";
const $ = (id) => document.getElementById(id);

const state = {models: [], model: null, seed: 0, tray: [], likeOf: null, likePage: 0,
               pointed: null};

function tagOf(id) {
  const match = /^(ckpt-[0-9a-f]{6}|[a-z]+-[0-9a-f]{4})-/.exec(id);
  return match ? match[1] : null;
}

function modelOf(id) {
  return state.models.find((m) => m.tag === tagOf(id)) || state.models[0];
}

function url(path, params) {
  return path + "?" + new URLSearchParams(params).toString();
}

async function api(path, params) {
  $("status").textContent = "drawing...";
  const response = await fetch(url(path, params));
  const answer = await response.json();
  if (!response.ok) {
    $("status").textContent = "error: " + answer.error;
    throw new Error(answer.error);
  }
  $("status").textContent = answer.faces ? `${answer.faces.length} faces in ${answer.ms} ms`
    : "";
  return answer;
}

// -- faces -----------------------------------------------------------------------------------

function tile(face) {
  const button = document.createElement("button");
  button.className = "face";
  button.dataset.id = face.id;
  button.title = "keep " + face.id;
  const img = document.createElement("img");
  img.src = face.png;
  img.alt = face.id;
  const caption = document.createElement("span");
  caption.className = "id";
  caption.textContent = face.id;
  button.append(img, caption);
  button.addEventListener("click", () => keep(face));
  for (const event of ["mouseenter", "focus"]) {
    button.addEventListener(event, () => { state.pointed = face.id; });
  }
  return button;
}

function show(container, faces) {
  $(container).replaceChildren(...faces.map(tile));
}

async function newGrid(seed) {
  // a new random seed, short to keep the ids short; the page's address can name the first
  // (page#seed=7) to show a grid again
  state.seed = Number.isInteger(seed) ? seed : Math.floor(Math.random() * 100000);
  const answer = await api("api/grid", {model: state.model, seed: state.seed, n: GRID,
                                        sharpest: $("sharpest").checked ? 1 : 0});
  $("seed").textContent = `seed ${state.seed}` + ($("sharpest").checked
    ? `, the ${GRID} sharpest of ${4 * GRID}` : "");
  show("faces", answer.faces);
}

async function like(id, page) {
  state.likeOf = id;
  state.likePage = page;
  const answer = await api("api/like", {id: id, n: GRID, page: page,
                                        spread: $("spread").value});
  $("like-of").textContent = id;
  $("like-panel").hidden = false;
  show("like", answer.faces);
  $("like-panel").scrollIntoView({block: "nearest"});
}

async function blend() {
  const [a, b] = ticked();
  const answer = await api("api/blend", {a: a, b: b, steps: BLENDS});
  $("blend-panel").hidden = false;
  show("blend", answer.faces);
}

// -- the tray --------------------------------------------------------------------------------

function keep(face) {
  if (!state.tray.some((kept) => kept.id === face.id)) {
    state.tray.push({id: face.id, png: face.png});
    saveTray();
  }
  drawTray();
}

function ticked() {
  return [...document.querySelectorAll("#tray input:checked")].map((box) => box.value);
}

function drawTray() {
  const items = state.tray.map((face) => {
    const item = document.createElement("li");
    item.dataset.id = face.id;
    const img = document.createElement("img");
    img.src = face.png;
    img.alt = face.id;
    const tick = document.createElement("input");
    tick.type = "checkbox";
    tick.value = face.id;
    tick.title = "tick two faces to blend them";
    tick.addEventListener("change", updateButtons);
    const id = document.createElement("code");
    id.textContent = face.id;
    const more = document.createElement("button");
    more.className = "like";
    more.textContent = "more like this";
    more.addEventListener("click", () => like(face.id, 0));
    const remove = document.createElement("button");
    remove.className = "remove";
    remove.textContent = "\u00d7";
    remove.title = "remove from the tray";
    remove.addEventListener("click", () => {
      state.tray = state.tray.filter((kept) => kept.id !== face.id);
      saveTray();
      drawTray();
    });
    const downloads = document.createElement("span");
    downloads.className = "downloads";
    for (const size of modelOf(face.id).downloads) {
      const link = document.createElement("a");
      link.href = url("api/face", {id: face.id, size: size});
      link.download = face.id + ".png";
      link.textContent = size + " px";
      link.className = "download";
      downloads.append(link, " ");
    }
    item.append(img, tick, id, more, downloads, remove);
    return item;
  });
  $("tray").replaceChildren(...items);
  $("tray-empty").hidden = state.tray.length > 0;
  updateButtons();
}

function updateButtons() {
  const two = ticked();
  $("blend-button").disabled = two.length !== 2 || tagOf(two[0]) !== tagOf(two[1]);
  const zip = $("zip");
  if (state.tray.length) {
    zip.href = url("api/zip", {ids: state.tray.map((f) => f.id).join(","),
                               size: $("zip-size").value});
    zip.classList.remove("disabled");
  } else {
    zip.removeAttribute("href");
    zip.classList.add("disabled");
  }
}

function saveTray() {
  try {
    localStorage.setItem(SAVED, JSON.stringify(state.tray));
  } catch (error) { /* a full or disabled storage: the tray lasts until the page closes */ }
}

function loadTray() {
  try {
    const saved = JSON.parse(localStorage.getItem(SAVED) || "[]");
    const tags = new Set(state.models.map((m) => m.tag));
    state.tray = saved.filter((f) => tags.has(tagOf(f.id)) && /^data:image\/png/.test(f.png));
  } catch (error) {
    state.tray = [];
  }
}

// -- start -----------------------------------------------------------------------------------

async function start() {
  const answer = await api("api/models", {});
  state.models = answer.models;
  state.model = answer.first;
  for (const m of state.models) {
    $("model").append(new Option(`${m.name}: ${m.tag}, ${m.size} px`, m.tag));
  }
  $("model").value = state.model;
  const first = state.models.find((m) => m.tag === state.model);
  for (const size of first.downloads) {
    $("zip-size").append(new Option(String(size), String(size), false, size >= 256));
  }
  $("model").addEventListener("change", () => { state.model = $("model").value; newGrid(); });
  $("sharpest").addEventListener("change", () => newGrid());
  $("new").addEventListener("click", () => newGrid());
  $("more-like").addEventListener("click", () => like(state.likeOf, state.likePage + 1));
  $("spread").addEventListener("input", () => {
    $("spread-value").textContent = ($("spread").value / 100).toFixed(2);
  });
  $("spread").addEventListener("change", () => like(state.likeOf, state.likePage));
  $("blend-button").addEventListener("click", blend);
  $("zip-size").addEventListener("change", updateButtons);
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey ||
        ["INPUT", "SELECT"].includes(event.target.tagName)) return;
    if (event.key === "n" || event.key === "N") newGrid();
    if ((event.key === "l" || event.key === "L") && state.pointed) like(state.pointed, 0);
  });
  loadTray();
  drawTray();
  const named = /^#seed=(\d{1,9})$/.exec(location.hash);
  await newGrid(named ? Number(named[1]) : undefined);
}

start();
