// praison_push widgets: one ES module for every widget kind.
//
// anywidget loads a widget's module from a blob: URL, where relative imports
// cannot resolve, so without a build step the kinds share this one file: one
// store per model, one delta/snapshot protocol, and small renderers.
//
// Protocol (praison_push/notebook/widgets/_base.py):
//   kernel -> page  custom message {kind: "delta", seq, parts: {name: op}}
//                   synced trait   snapshot = {seq, parts: {name: op}}
//   page -> kernel  {kind: "resync", seq}   on a seq gap
//                   {kind: "clear", through} ChannelLog's Clear button
//                   {kind: "approve", tool_call_id, approved} a run's Approve/Deny buttons
// A part op is text {append} | {text}, meta {values}, or rows
// {clear, remove, upsert, limit} (applied in that order). A snapshot is the
// same ops applied to empty parts. Deltas at or below the store's seq are old
// news; a delta above seq + 1 means some were lost: ask for a snapshot and
// drop deltas until it comes (it covers them).
//
// Everything that came from the network is put in the page with textContent,
// or escaped before it becomes markup (the Markdown renderer).

/** How long to wait for an answer to a resync request before asking again. */
export const RESYNC_RETRY_MS = 3000;
/** How often relative times ("3 s ago") are redrawn. */
const CLOCK_MS = 5000;
/** Characters of a tool result shown in its cell (the full text is its title). */
const RESULT_CHARS = 80;

/** One store per model, by the widget's `_uid` (anywidget gives `initialize`
 * and `render` different proxies of one model, so the proxy cannot be the key). */
const STORES = new Map();

// --- safe text ------------------------------------------------------------------

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` with every character that means something in HTML escaped. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function inlineMarkdown(line) {
  // Escaped first: what follows only ever wraps escaped text in fixed tags.
  const pieces = line.split("`");
  if (pieces.length % 2 === 0) {
    // An unclosed backtick (the stream has not closed it yet) stays literal.
    const last = pieces.pop();
    pieces[pieces.length - 1] += "`" + last;
  }
  return pieces
    .map((piece, i) =>
      i % 2 === 1
        ? `<code>${escapeHtml(piece)}</code>`
        : escapeHtml(piece).replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>"),
    )
    .join("");
}

/** A small, safe Markdown subset: paragraphs, line breaks, **bold**, `code`, fenced blocks.
 * The input is escaped before any markup is added, so it cannot inject any. */
export function markdownToHtml(text) {
  const out = [];
  let paragraph = [];
  const endParagraph = () => {
    if (paragraph.length) {
      out.push(`<p>${paragraph.map(inlineMarkdown).join("<br>")}</p>`);
      paragraph = [];
    }
  };
  const lines = String(text).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*```/.test(line)) {
      endParagraph();
      const code = [];
      i++;
      while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
    } else if (line.trim() === "") {
      endParagraph();
    } else {
      paragraph.push(line);
    }
  }
  endParagraph();
  return out.join("");
}

// --- parts and stores -----------------------------------------------------------

function newPart(op) {
  if ("append" in op || "text" in op) return { type: "text", chunks: [] };
  if ("values" in op) return { type: "meta", values: {} };
  return { type: "rows", rows: new Map(), limit: null };
}

/** Apply one part op (a delta's or a snapshot's) to `part`. */
export function applyOp(part, op) {
  if (part.type === "text") {
    if ("text" in op) part.chunks = op.text ? [op.text] : [];
    if (op.append) part.chunks.push(op.append);
  } else if (part.type === "meta") {
    Object.assign(part.values, op.values);
  } else {
    if ("limit" in op) part.limit = op.limit;
    if (op.clear) part.rows.clear();
    for (const id of op.remove || []) part.rows.delete(id);
    for (const row of op.upsert || []) {
      const kept = part.rows.get(row.id);
      if (kept) Object.assign(kept, row);
      else part.rows.set(row.id, { ...row });
    }
    while (part.limit && part.rows.size > part.limit) {
      part.rows.delete(part.rows.keys().next().value);
    }
  }
}

/** The whole text of a text part (joined once, then kept joined). */
export function textOf(part) {
  if (!part) return "";
  if (part.chunks.length > 1) part.chunks = [part.chunks.join("")];
  return part.chunks[0] || "";
}

function metaOf(store) {
  return (store.parts.meta && store.parts.meta.values) || {};
}

function rowsOf(part) {
  return part ? [...part.rows.values()] : [];
}

function notify(store, change) {
  for (const view of store.views) {
    // A front end that redraws an output (an updated display) leaves the old view
    // behind without disposing it: once its element has left the page, drop it.
    if (view.el && view.el.isConnected) view.attached = true;
    else if (view.el && view.attached) {
      store.views.delete(view);
      if (view.dispose) view.dispose();
      continue;
    }
    try {
      view.update(change);
    } catch (error) {
      console.error("[praison_push] a view failed to update", error);
    }
  }
}

function applySnapshot(store, snapshot) {
  if (!snapshot || typeof snapshot.seq !== "number") return;
  const waiting = store.resyncAt !== 0;
  if (snapshot.seq < store.seq || (snapshot.seq === store.seq && !waiting && store.loaded)) {
    return; // older than (or the same as) what this page shows
  }
  const parts = {};
  for (const [name, op] of Object.entries(snapshot.parts || {})) {
    parts[name] = newPart(op);
    applyOp(parts[name], op);
  }
  store.parts = parts;
  store.seq = snapshot.seq;
  store.loaded = true;
  endResync(store);
  notify(store, { reset: true });
}

function applyDelta(store, message) {
  if (typeof message.seq !== "number" || message.seq <= store.seq) return;
  if (message.seq !== store.seq + 1) {
    requestResync(store);
    return;
  }
  for (const [name, op] of Object.entries(message.parts || {})) {
    if (!store.parts[name]) store.parts[name] = newPart(op);
    applyOp(store.parts[name], op);
  }
  store.seq = message.seq;
  store.gone = false; // the kernel speaks: alive after all
  notify(store, { reset: false, parts: message.parts || {} });
}

function requestResync(store) {
  if (store.resyncAt !== 0) return; // asked already; the snapshot covers every gap
  store.resyncAt = Date.now();
  store.model.send({ kind: "resync", seq: store.seq });
  // The kernel answers only between cells; ask again if the answer got lost.
  store.resyncTimer = setTimeout(() => {
    store.resyncAt = 0;
  }, RESYNC_RETRY_MS);
}

function endResync(store) {
  store.resyncAt = 0;
  clearTimeout(store.resyncTimer);
}

function frozenRows(store) {
  return rowsOf(store.parts.messages);
}

function createStore(model) {
  const store = {
    model,
    kind: model.get("_kind"),
    seq: -1,
    loaded: false,
    parts: {},
    views: new Set(),
    resyncAt: 0,
    resyncTimer: undefined,
    answered: new Set(), // run widgets: calls whose Approve/Deny was clicked here
    frozen: null, // ChannelLog: the rows shown while paused
    clearedThrough: 0, // ChannelLog: rows cleared here, before the kernel knows
  };
  const onMessage = (message) => {
    if (message && message.kind === "delta") applyDelta(store, message);
  };
  const onSnapshot = () => applySnapshot(store, model.get("snapshot"));
  const onPaused = () => {
    store.frozen = model.get("paused") ? frozenRows(store) : null;
    notify(store, { reset: true });
  };
  const onMarkdown = () => notify(store, { reset: true });
  // ipywidgets marks every model's comm dead when its kernel restarts or dies; the
  // views stay on the page, so they must say they no longer follow anything.
  const onCommLive = () => {
    store.gone = true;
    notify(store, { reset: true });
  };
  model.on("msg:custom", onMessage);
  model.on("comm_live_update", onCommLive);
  model.on("change:snapshot", onSnapshot);
  model.on("change:paused", onPaused);
  model.on("change:markdown", onMarkdown);
  store.dispose = () => {
    model.off("msg:custom", onMessage);
    model.off("change:snapshot", onSnapshot);
    model.off("change:paused", onPaused);
    model.off("change:markdown", onMarkdown);
    model.off("comm_live_update", onCommLive);
    endResync(store);
  };
  applySnapshot(store, model.get("snapshot"));
  if (model.get("paused")) store.frozen = frozenRows(store);
  return store;
}

/** The store of `model`, made on first use (normally by `initialize`). */
export function storeFor(model) {
  const uid = model.get("_uid");
  let store = STORES.get(uid);
  if (!store) {
    store = createStore(model);
    STORES.set(uid, store);
  }
  return store;
}

// --- DOM helpers ----------------------------------------------------------------

function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A table with a header row of `titles` and an empty body. */
function table(className, titles) {
  const root = h("table", `pp-table ${className}`);
  const head = h("tr");
  for (const title of titles) head.append(h("th", null, title));
  root.append(h("thead"), h("tbody"));
  root.tHead.append(head);
  return root;
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function ago(seconds) {
  const delta = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (delta < 5) return "just now";
  if (delta < 60) return `${delta} s ago`;
  if (delta < 3600) return `${Math.floor(delta / 60)} min ago`;
  return `${Math.floor(delta / 3600)} h ago`;
}

// Numbers read the same here as in the kernel's reprs (widgets/_format.py).
const NUMBER = new Intl.NumberFormat("en-US");

/** "1 token", "1,200 tokens". */
export function count(n, noun, plural) {
  return `${NUMBER.format(n)} ${n === 1 ? noun : plural || noun + "s"}`;
}

/** "7.5 tok/s" below 10, "80 tok/s" and "1,498 tok/s" above. */
export function rate(perSecond) {
  return perSecond < 10 ? `${perSecond.toFixed(1)} tok/s` : `${NUMBER.format(Math.round(perSecond))} tok/s`;
}

function millis(ms) {
  return `${NUMBER.format(Math.round(ms))} ms`;
}

function statusLine(meta, store) {
  const parts = [meta.agent || "run", meta.status || "waiting"];
  if (store && store.gone && (meta.status || "running") === "running") {
    parts.push("not live (its kernel stopped)");
  }
  parts.push(count(meta.tokens ?? 0, "token"));
  if (meta.tokens_per_s != null) parts.push(rate(meta.tokens_per_s));
  if (meta.latency_ms != null) parts.push(millis(meta.latency_ms));
  return parts.join(" · ");
}

/** The warning a client-fed widget shows once its client is no longer connected. */
function connectionWarning(meta, store) {
  if (store && store.gone) return "⚠ not live (its kernel stopped, or the widget was closed)";
  const state = meta.connection || "connected";
  if (state === "connected") return "";
  const note = meta.connection_note ? ` (${meta.connection_note})` : "";
  return state === "reconnecting" ? `⚠ disconnected, reconnecting${note}` : `⚠ not live${note}`;
}

/** A banner under a widget's title: empty and hidden while the client is connected. */
function connectionPiece(store, root) {
  const banner = h("div", "pp-conn");
  banner.hidden = true;
  return {
    el: banner,
    update() {
      const warning = connectionWarning(metaOf(store), store);
      banner.textContent = warning;
      banner.hidden = !warning;
      root.classList.toggle("pp-stale", Boolean(warning));
    },
  };
}

// --- pieces shared by the run widgets --------------------------------------------

/** Pixels from the bottom that still count as "at the end" of the text. */
const AT_END_PX = 8;

/** The live text with its cursor; appends deltas instead of redrawing.
 *
 * Once the text outgrows its box, the box follows the end (the newest text and
 * the cursor stay in sight) until the reader scrolls up; then it stays where
 * the reader is and a "↓ latest" button offers the way back. Whether it
 * follows is kept in the store, so a view drawn again keeps the reader's place. */
function textPiece(store) {
  const root = h("div", "pp-text");
  const scroller = h("div", "pp-scroll");
  const body = h("div", "pp-body");
  const cursor = h("span", "pp-cursor");
  const latest = h("button", "pp-button pp-latest", "↓ latest");
  latest.type = "button";
  latest.hidden = true;
  scroller.append(body, cursor);
  root.append(scroller, latest);
  if (store.follow === undefined) store.follow = true;
  let node = null; // the text node deltas append to (plain mode)
  let markdown = null; // the mode last drawn
  const atEnd = () =>
    scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= AT_END_PX;
  const overflows = () => scroller.scrollHeight > scroller.clientHeight + AT_END_PX;
  const place = () => {
    if (store.follow) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (store.scrollTop != null && !root.dataset.placed) {
      scroller.scrollTop = store.scrollTop;
    }
    if (root.isConnected) root.dataset.placed = "1";
    latest.hidden = store.follow || !overflows();
  };
  scroller.addEventListener("scroll", () => {
    if (!root.isConnected) return;
    store.follow = atEnd();
    store.scrollTop = scroller.scrollTop;
    latest.hidden = store.follow || !overflows();
  });
  latest.addEventListener("click", () => {
    store.follow = true;
    place();
  });
  const draw = () => {
    markdown = Boolean(store.model.get("markdown"));
    root.classList.toggle("pp-markdown", markdown);
    const text = textOf(store.parts.text);
    if (markdown) {
      body.innerHTML = markdownToHtml(text); // escaped inside markdownToHtml
      node = null;
    } else {
      node = document.createTextNode(text);
      body.replaceChildren(node);
    }
  };
  return {
    el: root,
    update(change) {
      cursor.hidden = metaOf(store).status !== "running" || Boolean(store.gone);
      const op = change.parts && change.parts.text;
      const mode = Boolean(store.model.get("markdown"));
      if (change.reset || mode !== markdown || (op && "text" in op) || (op && markdown)) {
        draw();
      } else if (op && op.append) {
        node.appendData(op.append); // plain text: only the new part is touched
      }
      place();
      // A view is laid out after its first draw: place it again once it is.
      if (!root.dataset.placed) requestAnimationFrame(place);
    },
  };
}

/** A table with fixed column widths (`widths`: CSS widths, "" for the rest), so columns
 * do not jump as rows arrive; below ~520 px the CSS stacks each row. */
function fixedTable(className, titles, widths) {
  const root = table(className, titles);
  const columns = h("colgroup");
  for (const width of widths) {
    const col = h("col");
    if (width) col.style.width = width;
    columns.append(col);
  }
  root.prepend(columns);
  return root;
}

/** A cell that carries its column's title (shown as a label in the stacked layout). */
function cell(label, className, text) {
  const td = h("td", className, text);
  td.dataset.label = label;
  return td;
}

/** The indicator of a tool call's state: a CSS spinner while calling (no emoji font needed). */
function stateCell(status) {
  const td = cell("Status", `pp-state pp-state-${status}`);
  const mark = h("span", `pp-mark pp-mark-${status}`);
  const marks = { completed: "✓", failed: "✗", streaming: "✎", waiting: "⏸" };
  if (marks[status]) mark.textContent = marks[status];
  mark.setAttribute("aria-hidden", "true");
  td.append(mark, document.createTextNode(` ${status}`));
  return td;
}

/** Approve/Deny for a call that waits for a person (a click answers once), or how
 * its approval went; shown in the Result cell, which is empty until the call ran. */
function approvalPiece(store, call) {
  const box = h("span", `pp-approval pp-approval-${call.approval}`);
  if (call.approval !== "pending") {
    const note = call.approval_note ? `: ${call.approval_note}` : "";
    box.textContent = `${call.approval}${note}`;
    return box;
  }
  const asked = store.answered.has(call.id);
  for (const [label, approved] of [["Approve", true], ["Deny", false]]) {
    const button = h("button", `pp-${approved ? "approve" : "deny"}`, label);
    button.type = "button";
    button.disabled = asked || Boolean(store.gone);
    button.addEventListener("click", () => {
      store.answered.add(call.id);
      store.model.send({ kind: "approve", tool_call_id: call.id, approved });
      notify(store, { reset: false, parts: {} });
    });
    box.append(button);
  }
  if (call.approval_note) box.append(h("span", "pp-note", call.approval_note));
  return box;
}

/** The tool-call table (arguments grow as the model streams them). */
function toolsPiece(store) {
  const root = fixedTable(
    "pp-tools",
    ["Tool", "Arguments", "Status", "Result", "Duration"],
    ["18%", "30%", "7.5em", "", "5.5em"],
  );
  const body = root.tBodies[0];
  return {
    el: root,
    update() {
      const rows = rowsOf(store.parts.calls);
      root.hidden = rows.length === 0 && store.kind !== "tool_calls";
      body.replaceChildren(
        ...rows.map((call) => {
          const tr = h("tr", `pp-call pp-${call.status}`);
          tr.dataset.callId = String(call.id);
          if (call.approval) tr.dataset.approval = call.approval;
          const result = String(call.result ?? "");
          const cut =
            result.length > RESULT_CHARS ? result.slice(0, RESULT_CHARS - 1) + "…" : result;
          const resultCell = cell("Result", "pp-result", cut);
          if (call.approval && (call.approval === "pending" || !result)) {
            resultCell.append(approvalPiece(store, call));
          }
          resultCell.title = result;
          tr.append(
            cell("Tool", "pp-name", call.name),
            cell("Arguments", "pp-args", call.arguments),
            stateCell(call.status),
            resultCell,
            cell("Duration", "pp-duration", call.duration_ms == null ? "" : millis(call.duration_ms)),
          );
          return tr;
        }),
      );
    },
  };
}

/** The model's reasoning, folded under a summary line (opened by the reader). */
function reasoningPiece(store) {
  const root = h("details", "pp-reasoning");
  const summary = h("summary", null, "Reasoning");
  const body = h("div", "pp-reasoning-text");
  root.append(summary, body);
  return {
    el: root,
    update() {
      const text = textOf(store.parts.reasoning);
      root.hidden = !text;
      if (body.textContent !== text) body.textContent = text;
      summary.textContent = `Reasoning (${text.length} characters)`;
    },
  };
}

// --- renderers, one per kind --------------------------------------------------------

/** Whether a run's status line says it failed (red, like its footer). */
function failed(meta) {
  return Boolean(meta.error) || meta.status === "failed" || meta.status === "cancelled";
}

function tokenStreamView(store, el) {
  const status = h("div", "pp-status");
  const text = textPiece(store);
  el.append(status, text.el);
  return {
    update(change) {
      const meta = metaOf(store);
      status.textContent = statusLine(meta, store);
      status.classList.toggle("pp-error", failed(meta));
      if (meta.error) status.textContent += ` · ${meta.error}`;
      text.update(change);
    },
  };
}

function toolCallsView(store, el) {
  const tools = toolsPiece(store);
  el.append(tools.el);
  return { update: (change) => tools.update(change) };
}

function executionView(store, el) {
  const status = h("div", "pp-status");
  const text = textPiece(store);
  const tools = toolsPiece(store);
  const reasoning = reasoningPiece(store);
  const footer = h("div", "pp-footer");
  el.append(status, reasoning.el, tools.el, text.el, footer);
  return {
    update(change) {
      const meta = metaOf(store);
      status.textContent = statusLine(meta, store);
      status.classList.toggle("pp-error", failed(meta));
      if (meta.execution_id) status.title = meta.execution_id;
      reasoning.update(change);
      tools.update(change);
      text.update(change);
      const notes = [];
      const usage = meta.usage;
      if (usage) {
        notes.push(
          `usage: ${usage.prompt_tokens ?? "?"} prompt + ${usage.completion_tokens ?? "?"} ` +
            `completion = ${usage.total_tokens ?? "?"} tokens`,
        );
      }
      if (meta.latency_ms != null) notes.push(`latency ${millis(meta.latency_ms)}`);
      if (meta.error) notes.push(`error: ${meta.error}`);
      footer.textContent = notes.join(" · ");
      footer.classList.toggle("pp-error", Boolean(meta.error));
      footer.hidden = notes.length === 0;
    },
  };
}

function presenceView(store, el) {
  const title = h("div", "pp-status");
  const conn = connectionPiece(store, el);
  const clients = fixedTable(
    "pp-presence",
    ["Client", "Status", "Metadata", "Last seen"],
    ["30%", "8em", "", "7.5em"],
  );
  el.append(title, conn.el, clients);
  const draw = () => {
    const meta = metaOf(store);
    const rows = rowsOf(store.parts.clients);
    const live = (meta.connection || "connected") === "connected" && !store.gone;
    title.textContent =
      `${meta.channel ? `#${meta.channel}` : "gateway"} · ${count(rows.length, "client")}` +
      `${meta.error ? ` · ${meta.error}` : ""}`;
    conn.update();
    clients.tBodies[0].replaceChildren(
      ...rows.map((row) => {
        const tr = h("tr", "pp-client");
        const name = cell("Client", "pp-name", row.client_id);
        if (row.client_id === meta.self_id) name.append(h("span", "pp-you", " (you)"));
        if (row.user_id) name.title = row.user_id;
        const status = cell("Status", `pp-presence-${row.status}`);
        status.append(h("span", "pp-dot"), document.createTextNode(` ${row.status}`));
        // A connected client is seen now; the gateway says "offline" once it goes silent.
        const active = live && row.status !== "offline";
        const seen = cell("Last seen", "pp-seen", active ? "active" : ago(row.last_seen));
        seen.title = clock(row.last_seen);
        tr.append(name, status, cell("Metadata", "pp-args", row.metadata), seen);
        return tr;
      }),
    );
  };
  const timer = setInterval(draw, CLOCK_MS);
  return { update: draw, dispose: () => clearInterval(timer) };
}

function channelLogView(store, el) {
  const bar = h("div", "pp-toolbar");
  const title = h("span", "pp-status");
  const badge = h("span", "pp-badge");
  const pause = h("button", "pp-button pp-pause", "Pause");
  const clear = h("button", "pp-button pp-clear", "Clear");
  pause.type = clear.type = "button";
  // The badge keeps its room when empty, so the buttons never move.
  bar.append(title, badge, pause, clear);
  const conn = connectionPiece(store, el);
  const log = fixedTable("pp-log", ["Time", "Channel", "From", "Message"], [
    "7em",
    "18%",
    "15%",
    "",
  ]);
  el.append(bar, conn.el, log);
  pause.addEventListener("click", () => {
    store.model.set("paused", !store.model.get("paused"));
    store.model.save_changes();
  });
  clear.addEventListener("click", () => {
    const ids = rowsOf(store.parts.messages).map((row) => row.id);
    const through = ids.length ? Math.max(...ids) : 0;
    store.clearedThrough = Math.max(store.clearedThrough, through);
    if (store.frozen) store.frozen = [];
    store.model.send({ kind: "clear", through });
    notify(store, { reset: true });
  });
  return {
    update() {
      const meta = metaOf(store);
      const paused = Boolean(store.model.get("paused"));
      const visible = (rows) => rows.filter((row) => row.id > store.clearedThrough);
      const live = visible(rowsOf(store.parts.messages));
      const shown = paused && store.frozen ? visible(store.frozen) : live;
      const newest = shown.reduce((top, row) => Math.max(top, row.id), 0);
      const waiting = live.filter((row) => row.id > newest).length;
      title.textContent =
        `${(meta.channels || []).map((c) => `#${c}`).join(" ")} · ${count(shown.length, "message")}` +
        `${meta.error ? ` · ${meta.error}` : ""}`;
      conn.update();
      pause.textContent = paused ? "Resume" : "Pause";
      badge.textContent = paused && waiting ? `${NUMBER.format(waiting)} new` : "";
      log.tHead.hidden = shown.length === 0;
      log.tBodies[0].replaceChildren(
        ...shown
          .slice()
          .reverse()
          .map((row) => {
            const tr = h("tr", "pp-message");
            const data = cell("Message", "pp-data", row.data);
            data.title = row.data;
            tr.append(
              cell("Time", "pp-time", clock(row.time)),
              cell("Channel", "pp-channel", row.channel),
              cell("From", "pp-source", row.source),
              data,
            );
            return tr;
          }),
      );
    },
  };
}

const RENDERERS = {
  token_stream: tokenStreamView,
  tool_calls: toolCallsView,
  execution_view: executionView,
  presence_list: presenceView,
  channel_log: channelLogView,
};

// --- anywidget entry points ------------------------------------------------------------

/** Model-level: one store per model, fed for the model's lifetime, whether shown or not. */
function initialize({ model }) {
  const store = storeFor(model);
  return () => {
    // The model is gone (widget closed, kernel restarted): views still on the page
    // must not keep claiming to be live.
    store.gone = true;
    notify(store, { reset: true });
    store.dispose();
    STORES.delete(model.get("_uid"));
  };
}

/** View-level: draw the store now (a late or second view shows everything) and on change. */
function render({ model, el }) {
  const store = storeFor(model);
  const make = RENDERERS[store.kind];
  el.classList.add("pp-widget", `pp-${String(store.kind).replace(/_/g, "-")}`);
  if (!make) {
    el.textContent = `praison_push: unknown widget kind ${String(store.kind)}`;
    return undefined;
  }
  const view = make(store, el);
  view.el = el;
  store.views.add(view);
  view.update({ reset: true });
  return () => {
    store.views.delete(view);
    if (view.dispose) view.dispose();
  };
}

export default { initialize, render };
