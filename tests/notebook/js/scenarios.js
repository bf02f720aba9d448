// Scenarios for test_widgets_js.py: each drives widgets.js through the harness
// (`h`) and returns what the page and the model show; Python asserts on it.

const tokenParts = () => ({
  text: { text: "" },
  meta: { values: { agent: "demo", status: "running", tokens: 0 } },
});
const texts = (el, selector) => [...el.querySelectorAll(selector)].map((n) => n.textContent);
const cells = (el) =>
  [...el.querySelectorAll("tbody tr")].map((tr) =>
    [...tr.children].map((td) => td.textContent.trim()),
  );

export function deltasInOrder(h) {
  const model = h.makeModel("token_stream", tokenParts());
  const { el } = h.makeView(model);
  model.kernelDelta(1, { text: { append: "Hello" }, meta: { values: { tokens: 1 } } });
  model.kernelDelta(2, {
    text: { append: " world" },
    meta: { values: { tokens: 2, tokens_per_s: 40.5 } },
  });
  const cursor = el.querySelector(".pp-cursor");
  const running = { hidden: cursor.hidden, blink: getComputedStyle(cursor).animationName };
  model.kernelDelta(3, { meta: { values: { status: "completed", latency_ms: 50 } } });
  return {
    text: el.querySelector(".pp-body").textContent,
    status: el.querySelector(".pp-status").textContent,
    running,
    doneHidden: cursor.hidden,
    sent: model.sent,
  };
}

export function gapThenSnapshot(h) {
  const model = h.makeModel("token_stream", tokenParts());
  const { el } = h.makeView(model);
  const body = () => el.querySelector(".pp-body").textContent;
  model.kernelDelta(1, { text: { append: "a" } });
  model.kernelDelta(3, { text: { append: "c" } }); // 2 was lost
  model.kernelDelta(4, { text: { append: "d" } }); // still a gap: no second request
  const during = body();
  const asked = [...model.sent];
  model.kernelSnapshot(4, { text: { text: "abcd" }, meta: { values: { status: "running" } } });
  const healed = body();
  model.kernelDelta(3, { text: { append: "OLD" } }); // older than the snapshot
  model.kernelDelta(4, { text: { append: "OLD" } });
  model.kernelDelta(5, { text: { append: "e" } });
  model.kernelSnapshot(2, { text: { text: "stale" }, meta: { values: {} } });
  return { during, asked, healed, after: body() };
}

export function lateAndSecondViews(h) {
  const model = h.makeModel("token_stream", tokenParts());
  for (let seq = 1; seq <= 50; seq++) model.kernelDelta(seq, { text: { append: `${seq} ` } });
  const late = h.makeView(model); // rendered after 50 deltas
  const second = h.makeView(model);
  model.kernelDelta(51, { text: { append: "end" } });
  const text = (view) => view.el.querySelector(".pp-body").textContent;
  const both = [text(late), text(second)];
  second.cleanup(); // a closed view stops updating…
  model.kernelDelta(52, { text: { append: "!" } });
  const afterClose = [text(late), text(second)];
  model.dispose(); // …and the model's listeners go with it
  return { both, afterClose, listeners: model.listenerCount() };
}

export function builtFromLaterSnapshot(h) {
  const parts = { text: { text: "so far" }, meta: { values: { status: "running" } } };
  const model = h.makeModel("token_stream", parts, 7);
  const { el } = h.makeView(model);
  model.kernelDelta(8, { text: { append: ", more" } });
  return { text: el.querySelector(".pp-body").textContent, sent: model.sent };
}

export function markdown(h) {
  const md = h.module.markdownToHtml;
  const parts = { text: { text: "" }, meta: { values: { status: "running" } } };
  const model = h.makeModel("token_stream", parts, 0, { markdown: true });
  const { el } = h.makeView(model);
  model.kernelDelta(1, { text: { append: "Use **bold** and `x < y`.\n\n```\nif a<b:\n  go()\n" } });
  const body = el.querySelector(".pp-body");
  const streaming = { pre: body.querySelector("pre code").textContent };
  model.kernelDelta(2, { text: { append: "```\nAfter `tick" } });
  model.set("markdown", false);
  const plain = el.querySelector(".pp-body").textContent;
  model.set("markdown", true);
  const paragraphs = [...el.querySelectorAll(".pp-body p")];
  return {
    streaming,
    strong: el.querySelector(".pp-body strong").textContent,
    code: el.querySelector(".pp-body p code").textContent,
    paragraphs: paragraphs.length,
    lastP: paragraphs.pop().textContent,
    plain,
    unit: [md("a\nb"), md("**x**"), md("`a`b`"), md("** not bold**"), md("")],
  };
}

export async function networkTextIsNeverMarkup(h, evil) {
  const views = [];
  for (const markdown of [false, true]) {
    const model = h.makeModel(
      "execution_view",
      {
        text: { text: "" },
        meta: { values: { status: "running", agent: evil, error: evil } },
        calls: { upsert: [], limit: null },
      },
      0,
      { markdown },
    );
    views.push(h.makeView(model));
    model.kernelDelta(1, {
      text: { append: `${evil} **${evil}** \`${evil}\`\n\`\`\`\n${evil}\n\`\`\`` },
      calls: {
        upsert: [
          { id: evil, name: evil, arguments: evil, status: evil, result: evil, duration_ms: 5 },
        ],
      },
      meta: { values: { usage: { prompt_tokens: evil, completion_tokens: 1, total_tokens: 2 } } },
    });
  }
  const log = h.makeModel("channel_log", {
    messages: { upsert: [{ id: 1, channel: evil, time: 1, source: evil, data: evil }], limit: 5 },
    meta: { values: { channels: [evil], error: evil } },
  });
  views.push(h.makeView(log));
  const presence = h.makeModel("presence_list", {
    clients: {
      upsert: [
        { id: evil, client_id: evil, user_id: evil, status: evil, metadata: evil, last_seen: 1 },
      ],
    },
    meta: { values: { channel: evil, self_id: evil, error: evil } },
  });
  views.push(h.makeView(presence));
  await new Promise((resolve) => setTimeout(resolve, 100)); // an onerror would have run by now
  return {
    images: document.querySelectorAll("#views img").length,
    scripts: document.querySelectorAll("#views script").length,
    xss: window.__xss === undefined ? null : window.__xss,
    shown: views.map((view) => view.el.textContent.includes("<img src=x")),
    escaped: h.module.escapeHtml(`<a href="x">'&'</a>`),
  };
}

export function toolCalls(h) {
  const long = "r".repeat(200);
  const model = h.makeModel("tool_calls", { calls: { upsert: [], limit: null } });
  const { el } = h.makeView(model);
  const table = el.querySelector("table");
  const empty = { hidden: table.hidden, rows: el.querySelectorAll("tbody tr").length };
  model.kernelDelta(1, {
    calls: {
      upsert: [
        {
          id: "c1",
          name: "get_weather",
          arguments: '{"city":"Paris"}',
          status: "calling",
          result: "",
          duration_ms: null,
        },
      ],
    },
  });
  const calling = el.querySelector("tbody tr").className;
  model.kernelDelta(2, {
    calls: {
      upsert: [
        { id: "c1", status: "completed", result: long, duration_ms: 12 },
        { id: "c2", name: "bad", arguments: "", status: "failed", result: "boom", duration_ms: 3 },
      ],
    },
  });
  return {
    empty,
    calling,
    cells: cells(el),
    title: el.querySelector("tbody .pp-result").title,
    failedWeight: getComputedStyle(el.querySelector(".pp-state-failed")).fontWeight,
  };
}

export function executionView(h) {
  const call = {
    id: "c",
    name: "get_weather",
    arguments: "{}",
    status: "completed",
    result: "18C",
    duration_ms: 7,
  };
  const model = h.makeModel("execution_view", {
    text: { text: "" },
    meta: { values: { agent: "demo-weather", status: "running", execution_id: "exec_1" } },
    calls: { upsert: [], limit: null },
  });
  const { el } = h.makeView(model);
  const footer = el.querySelector(".pp-footer");
  const before = { tools: el.querySelector("table").hidden, footer: footer.hidden };
  model.kernelDelta(1, { calls: { upsert: [call] }, text: { append: "Sunny." } });
  model.kernelSnapshot(2, {
    text: { text: "Sunny." },
    calls: { upsert: [call] },
    meta: {
      values: {
        agent: "demo-weather",
        status: "failed",
        tokens: 1,
        latency_ms: 90,
        execution_id: "exec_1",
        error: "AGENT_FAILED: boom",
        usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 },
      },
    },
  });
  const status = el.querySelector(".pp-status");
  return {
    before,
    status: status.textContent,
    title: status.title,
    tools: el.querySelectorAll("tbody tr").length,
    text: el.querySelector(".pp-body").textContent,
    footer: footer.textContent,
    footerError: footer.classList.contains("pp-error"),
    statusError: status.classList.contains("pp-error"),
  };
}

const logRow = (id, channel = "alerts") => ({
  id,
  channel,
  time: 1700000000 + id,
  source: "pub",
  data: `m${id}`,
});

export function channelLogPauseResumeClear(h) {
  const model = h.makeModel("channel_log", {
    messages: { upsert: [logRow(1), logRow(2)], limit: 3 },
    meta: { values: { channels: ["alerts"] } },
  });
  const { el } = h.makeView(model);
  const other = h.makeView(model);
  const shown = (view = { el }) => texts(view.el, ".pp-data");
  const click = (selector) => el.querySelector(selector).click();
  const initial = shown();
  const pauseAt = () => Math.round(el.querySelector(".pp-clear").getBoundingClientRect().left);
  const buttonBefore = pauseAt();
  click(".pp-pause");
  const paused = {
    flag: model.get("paused"),
    saved: model.saved,
    label: el.querySelector(".pp-pause").textContent,
  };
  model.kernelDelta(1, { messages: { upsert: [logRow(3), logRow(4)] } });
  const whilePaused = {
    rows: shown(),
    other: shown(other),
    badge: el.querySelector(".pp-badge").textContent,
    buttonMoved: pauseAt() - buttonBefore,
    header: [...el.querySelectorAll("thead th")].map((th) => th.textContent),
  };
  click(".pp-pause");
  const resumed = shown();
  click(".pp-clear");
  const cleared = { rows: shown(), other: shown(other), sent: model.sent };
  model.kernelDelta(2, { messages: { upsert: [logRow(5)] } });
  // A snapshot from before the kernel heard of the clear must not bring rows back.
  model.kernelSnapshot(2, {
    messages: { upsert: [logRow(3), logRow(4), logRow(5)], limit: 3 },
    meta: { values: { channels: ["alerts"] } },
  });
  return {
    initial,
    paused,
    whilePaused,
    resumed,
    cleared,
    after: shown(),
    title: el.querySelector(".pp-status").textContent,
  };
}

export function channelLogPausedFromTheStart(h) {
  const model = h.makeModel(
    "channel_log",
    { messages: { upsert: [logRow(1, "c")], limit: 10 }, meta: { values: { channels: ["c"] } } },
    0,
    { paused: true },
  );
  const { el } = h.makeView(model);
  model.kernelDelta(1, { messages: { upsert: [logRow(2, "c")] } });
  const frozen = texts(el, ".pp-data");
  el.querySelector(".pp-clear").click();
  model.kernelDelta(2, { messages: { upsert: [logRow(3, "c")] } });
  const badge = el.querySelector(".pp-badge").textContent;
  model.set("paused", false);
  return { frozen, badge, after: texts(el, ".pp-data") };
}

export function presenceList(h) {
  const now = Date.now() / 1000;
  const client = (id, status, lastSeen, extra = {}) => ({
    id,
    client_id: id,
    user_id: "",
    status,
    metadata: "",
    last_seen: lastSeen,
    ...extra,
  });
  const model = h.makeModel("presence_list", {
    clients: {
      upsert: [
        client("me", "online", now, { user_id: "usr_1", metadata: '{"role":"a"}' }),
        client("bob", "away", now - 125),
      ],
    },
    meta: { values: { channel: "alerts", self_id: "me", error: null } },
  });
  const { el, cleanup } = h.makeView(model);
  const before = cells(el);
  model.kernelDelta(1, {
    clients: { remove: ["bob"], upsert: [client("eve", "offline", now - 7200)] },
  });
  const after = cells(el);
  cleanup();
  return {
    before,
    after,
    title: el.querySelector(".pp-status").textContent,
    userTitle: el.querySelector(".pp-name").title,
  };
}

export function unknownKindAndNoInitialize(h) {
  const unknown = new h.FakeModel({
    _kind: "nope",
    _uid: "u-nope",
    snapshot: { seq: 0, parts: {} },
  });
  const el = document.createElement("div");
  h.widget.render({ model: unknown, el });
  const call = { id: 1, name: "n", status: "calling", result: "", duration_ms: null };
  const direct = new h.FakeModel({
    _kind: "tool_calls",
    _uid: "u-direct",
    snapshot: { seq: 3, parts: { calls: { upsert: [call] } } },
  });
  const el2 = document.createElement("div");
  h.widget.render({ model: direct, el: el2 }); // no initialize: the store is made on render
  direct.kernelDelta(4, { calls: { upsert: [{ id: 1, status: "completed" }] } });
  unknown.kernelDelta(1, { nothing: { values: {} } });
  return { unknown: el.textContent, state: el2.querySelector(".pp-state").textContent };
}

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

/** Where the text box is scrolled, and whether its newest line and cursor are in sight. */
function tailState(el) {
  const scroller = el.querySelector(".pp-scroll");
  const box = scroller.getBoundingClientRect();
  const cursor = el.querySelector(".pp-cursor");
  const last = cursor.hidden ? el.querySelector(".pp-body") : cursor;
  const rect = last.getBoundingClientRect();
  return {
    overflows: scroller.scrollHeight > scroller.clientHeight,
    atEnd: scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= 8,
    top: scroller.scrollTop,
    endInSight: rect.bottom <= box.bottom + 1 && rect.bottom >= box.top,
    latest: !el.querySelector(".pp-latest").hidden,
  };
}

export async function followsTheTail(h) {
  const model = h.makeModel("token_stream", tokenParts());
  const { el } = h.makeView(model);
  let seq = 0;
  const lines = (n) => {
    for (let i = 0; i < n; i++) model.kernelDelta(++seq, { text: { append: `token ${seq}\n` } });
  };
  lines(200);
  await frame();
  const following = tailState(el);
  // The reader scrolls up: the box stays where the reader is, and offers the way back.
  el.querySelector(".pp-scroll").scrollTop = 0;
  await frame();
  lines(50);
  await frame();
  const scrolledUp = tailState(el);
  el.querySelector(".pp-latest").click();
  await frame();
  const back = tailState(el);
  lines(10);
  await frame();
  const again = tailState(el);
  // A second view of the same model (a redrawn output) keeps the reader's choice.
  el.querySelector(".pp-scroll").scrollTop = 0;
  await frame();
  const redrawn = h.makeView(model);
  await frame();
  return { following, scrolledUp, back, again, redrawn: tailState(redrawn.el) };
}

export function connectionBanner(h) {
  const now = Date.now() / 1000;
  const row = { id: "a", client_id: "a", user_id: "", status: "online", metadata: "" };
  const model = h.makeModel("presence_list", {
    clients: { upsert: [{ ...row, last_seen: now - 300 }] },
    meta: { values: { channel: "c", self_id: "a", connection: "connected" } },
  });
  const { el } = h.makeView(model);
  const banner = () => el.querySelector(".pp-conn");
  const live = { hidden: banner().hidden, seen: cells(el)[0][3], stale: el.classList.contains("pp-stale") };
  model.kernelDelta(1, {
    meta: { values: { connection: "reconnecting", connection_note: "the gateway went away" } },
  });
  const gone = {
    hidden: banner().hidden,
    text: banner().textContent,
    seen: cells(el)[0][3],
    stale: el.classList.contains("pp-stale"),
    opacity: getComputedStyle(el.querySelector("tbody")).opacity,
  };
  model.kernelDelta(2, { meta: { values: { connection: "connected", connection_note: "" } } });
  return { live, gone, back: { hidden: banner().hidden, stale: el.classList.contains("pp-stale") } };
}

/** Words (of at most `longest` characters) that the layout split over two lines. */
function brokenWords(root, longest = 16) {
  const broken = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(/\S+/g)) {
      if (match[0].length > longest) continue;
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (tops.size > 1) broken.push(match[0]);
    }
  }
  return broken;
}

/** Cells whose content overflows their box (clipped). */
function clipped(root) {
  return [...root.querySelectorAll("td, th, .pp-status")]
    .filter((node) => node.offsetParent !== null)
    .filter((node) => node.scrollWidth > node.clientWidth + 1)
    .map((node) => node.textContent.trim());
}

export function layoutAt(h, width) {
  const host = document.getElementById("views");
  host.style.width = `${width}px`;
  const calls = [
    { id: "1", name: "get_weather", arguments: '{"city": "Paris", "unit": "celsius"}', status: "completed", result: '{"temperature": 18, "condition": "partly cloudy"}', duration_ms: 1234 },
    { id: "2", name: "search_documents", arguments: '{"query": "kernel restarts", "top_k": 5}', status: "calling", result: "", duration_ms: null },
    { id: "3", name: "fetch", arguments: '{"url": "https://example.org/a/very/long/path/that/has/no/spaces/at/all"}', status: "failed", result: "timeout after 30 s", duration_ms: 30001 },
  ];
  const model = h.makeModel("execution_view", {
    text: { text: "The weather in Paris is currently 18°C and partly cloudy." },
    meta: { values: { agent: "demo-weather", status: "running", tokens: 1497, tokens_per_s: 1497.8 } },
    calls: { upsert: calls, limit: null },
  });
  const { el } = h.makeView(model);
  const presence = h.makeModel("presence_list", {
    clients: { upsert: [{ id: "notebook", client_id: "notebook", user_id: "", status: "online", metadata: '{"role": "analyst", "team": "platform"}', last_seen: Date.now() / 1000 }] },
    meta: { values: { channel: "lobby", self_id: "notebook", connection: "connected" } },
  });
  const people = h.makeView(presence);
  const log = h.makeModel("channel_log", {
    messages: { upsert: [{ id: 1, channel: "alerts", time: 1700000000, source: "deploy-bot", data: '{"step": "ship", "ok": true}' }], limit: 10 },
    meta: { values: { channels: ["alerts"], connection: "connected" } },
  });
  const logView = h.makeView(log);
  const roots = [el, people.el, logView.el];
  const breakAll = [...document.querySelectorAll("#views *")].filter(
    (node) => getComputedStyle(node).wordBreak === "break-all",
  ).length;
  const spinner = el.querySelector(".pp-mark-calling");
  const result = {
    broken: roots.flatMap((root) => brokenWords(root)),
    clipped: roots.flatMap((root) => clipped(root)),
    breakAll,
    stacked: getComputedStyle(el.querySelector("td")).display === "block",
    stateLines: [...el.querySelectorAll(".pp-state")].map((td) => {
      const range = document.createRange();
      range.selectNodeContents(td.lastChild); // the status word after the indicator
      return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    }),
    spinner: { text: spinner.textContent, animation: getComputedStyle(spinner).animationName },
    status: el.querySelector(".pp-status").textContent,
    widths: roots.map((root) => Math.round(root.getBoundingClientRect().width)),
  };
  host.style.width = "";
  return result;
}

export function modelGone(h) {
  const row = { id: "a", client_id: "a", user_id: "", status: "online", metadata: "", last_seen: Date.now() / 1000 };
  const model = h.makeModel("presence_list", {
    clients: { upsert: [row] },
    meta: { values: { channel: "c", self_id: "a", connection: "connected" } },
  });
  const { el } = h.makeView(model);
  const before = el.querySelector(".pp-conn").hidden;
  model.dispose(); // what anywidget does when the model is closed (kernel restart, close())
  return {
    before,
    banner: el.querySelector(".pp-conn").textContent,
    seen: cells(el)[0][3],
    stale: el.classList.contains("pp-stale"),
  };
}

export function kernelRestarted(h) {
  const row = { id: "a", client_id: "a", user_id: "", status: "online", metadata: "", last_seen: Date.now() / 1000 };
  const presence = h.makeModel("presence_list", {
    clients: { upsert: [row] },
    meta: { values: { channel: "c", self_id: "a", connection: "connected" } },
  });
  const run = h.makeModel("token_stream", tokenParts());
  const people = h.makeView(presence);
  const stream = h.makeView(run);
  // ipywidgets' manager on a kernel restart: every model's comm is marked dead.
  presence.emit("comm_live_update");
  run.emit("comm_live_update");
  const gone = {
    banner: people.el.querySelector(".pp-conn").textContent,
    seen: cells(people.el)[0][3],
    status: stream.el.querySelector(".pp-status").textContent,
    cursor: stream.el.querySelector(".pp-cursor").hidden,
  };
  presence.kernelDelta(1, { meta: { values: { connection: "connected" } } }); // it speaks again
  return { gone, back: people.el.querySelector(".pp-conn").hidden };
}
export function approvals(h) {
  const model = h.makeModel("execution_view", {
    text: { text: "" },
    meta: { values: { agent: "chat", status: "running" } },
    calls: { upsert: [], limit: null },
    reasoning: { text: "" },
  });
  const { el } = h.makeView(model);
  const details = el.querySelector("details.pp-reasoning");
  const reasoningHiddenWhenEmpty = details.hidden;
  const row = (id) =>
    [...el.querySelectorAll(`tbody tr[data-call-id="${id}"] td`)].map((td) =>
      td.textContent.trim(),
    );
  const blank = { result: "", duration_ms: null, approval: "", approval_note: "" };
  model.kernelDelta(1, {
    calls: {
      upsert: [{ id: "c1", name: "get_weather", arguments: '{"city": "Pa', status: "streaming",
                 ...blank }],
    },
    reasoning: { append: "Let me see.<" },
  });
  const streaming = row("c1");
  model.kernelDelta(2, {
    calls: {
      upsert: [{ id: "c2", name: "delete_file", arguments: '{"path":"/x"}', status: "waiting",
                 ...blank, approval: "pending", approval_note: "answer within 30 s" }],
    },
  });
  const buttons = [...el.querySelectorAll(`tr[data-call-id="c2"] button`)];
  const note = el.querySelector(`tr[data-call-id="c2"] .pp-note`).textContent;
  buttons[0].click();
  const again = [...el.querySelectorAll(`tr[data-call-id="c2"] button`)];
  again[1].click(); // disabled: sends nothing
  const disabledAfterClick = again.map((button) => button.disabled);
  model.kernelDelta(3, {
    calls: { upsert: [{ id: "c2", approval: "approved", approval_note: "" }] },
  });
  return {
    streaming,
    waiting: row("c2").slice(0, 3),
    buttons: buttons.map((button) => button.textContent),
    note,
    sent: model.sent,
    disabledAfterClick,
    answered: el.querySelector(`tr[data-call-id="c2"] .pp-approval`).textContent,
    reasoning: {
      open: details.open,
      summary: details.querySelector("summary").textContent,
      text: details.querySelector(".pp-reasoning-text").textContent,
    },
    reasoningHiddenWhenEmpty,
  };
}
