import * as scenarios from "./scenarios.js";

// Test harness for praison_push/notebook/static/widgets.js in a real browser.
//
// The module is loaded the way anywidget loads it — its source text imported
// from a blob: URL, so any relative import would fail here as it would in
// Jupyter — and driven through a fake model with anywidget's model API
// (get/set/on/off/send/save_changes). The kernel's side of the conversation
// is played by `kernel*` helpers: custom messages and snapshot trait updates.

class FakeModel {
  constructor(state) {
    this.state = { markdown: false, paused: false, ...state };
    this.listeners = new Map();
    this.sent = [];
    this.saved = 0;
  }
  get(name) {
    return this.state[name];
  }
  set(name, value) {
    const old = this.state[name];
    this.state[name] = value;
    if (old !== value) this.emit(`change:${name}`);
  }
  on(name, callback) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(callback);
  }
  off(name, callback) {
    const set = this.listeners.get(name);
    if (set) set.delete(callback);
  }
  send(content) {
    this.sent.push(JSON.parse(JSON.stringify(content)));
  }
  save_changes() {
    this.saved += 1;
  }
  emit(name, ...args) {
    for (const callback of [...(this.listeners.get(name) || [])]) callback(...args);
  }
  listenerCount() {
    let count = 0;
    for (const set of this.listeners.values()) count += set.size;
    return count;
  }
  // --- the kernel's side ---
  kernelDelta(seq, parts) {
    // Through JSON, as over the comm.
    this.emit("msg:custom", JSON.parse(JSON.stringify({ kind: "delta", seq, parts })), []);
  }
  kernelSnapshot(seq, parts) {
    this.set("snapshot", JSON.parse(JSON.stringify({ seq, parts })));
  }
}

let uid = 0;

async function load() {
  const source = await (await fetch("/static/widgets.js")).text();
  const css = await (await fetch("/static/widgets.css")).text();
  document.getElementById("widget-css").textContent = css;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const module = await import(url);
  return { module, widget: module.default };
}

/** A model of `kind` with an initial snapshot, initialized like anywidget does. */
function makeModel(widget, kind, parts = {}, seq = 0, extra = {}) {
  uid += 1;
  const model = new FakeModel({
    _kind: kind,
    _uid: `uid-${uid}`,
    snapshot: { seq, parts },
    ...extra,
  });
  model.dispose = widget.initialize({ model });
  return model;
}

/** A view of `model` in a fresh element; returns the element and the view's cleanup. */
function makeView(widget, model) {
  const el = document.createElement("div");
  document.getElementById("views").append(el);
  const cleanup = widget.render({ model, el });
  return { el, cleanup };
}

window.harness = load().then(({ module, widget }) => ({
  module,
  widget,
  FakeModel,
  makeModel: (...args) => makeModel(widget, ...args),
  makeView: (model) => makeView(widget, model),
}));

/** Run scenario `name` of scenarios.js with the harness; its result goes back to Python. */
window.runScenario = async (name, ...args) => scenarios[name](await window.harness, ...args);
