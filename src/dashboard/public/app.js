// The engine-link status page: engines, their link, catch-up, hardware, run and samples; the runs; a
// command box per engine. Kept live by two server-sent event streams of the aggregator, which it
// reconnects by itself: /api/events (engines, progress, runs) and /api/telemetry/events (samples, states).

import { liveStream } from './liveStream.js';
import { createEngineCard, renderRuns, updateEngineCard } from './view.js';

const MAX_RUNS = 100;
/** As the aggregator's telemetry feed: one point per 200 ms of engine time, one minute per tag. */
const BUCKET_MS = 200;
const WINDOW_MS = 60_000;

const state = {
  /** engineId → the engine's view (GET /api/engines/:id), with `reason` from link events. */
  engines: new Map(),
  /** engineId → persisted sequence number when the page saw its catch-up start. */
  catchUpFrom: new Map(),
  /** `${engineId}\n${runId}` → run. */
  runs: new Map(),
  /** engineId → { tags: Map(tag → {unit, points}), states, stamp }. */
  telemetry: new Map(),
  cards: new Map(),
  streams: { events: 'connecting', telemetry: 'connecting' },
};

const elements = {
  engines: document.getElementById('engines'),
  runs: document.querySelector('#runs tbody'),
  status: document.getElementById('stream-status'),
  store: document.getElementById('store-status'),
  summary: document.getElementById('summary'),
};

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    draw();
  });
}

function draw() {
  const now = Date.now();
  const engines = [...state.engines.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (engines.length === 0) {
    elements.engines.replaceChildren(
      Object.assign(document.createElement('p'), {
        className: 'empty',
        textContent: 'No engine has connected yet.',
      }),
    );
  } else {
    const order = engines.map((engine) => {
      let card = state.cards.get(engine.id);
      if (!card) {
        card = createEngineCard(engine.id, sendCommand);
        state.cards.set(engine.id, card);
      }
      updateEngineCard(card, engine, {
        catchUpFrom: state.catchUpFrom.get(engine.id),
        telemetry: state.telemetry.get(engine.id),
        now,
      });
      return card.root;
    });
    if (
      order.some((root, i) => elements.engines.children[i] !== root) ||
      elements.engines.children.length !== order.length
    )
      elements.engines.replaceChildren(...order);
  }
  const runs = [...state.runs.values()]
    .sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? -1 : 1))
    .slice(0, MAX_RUNS);
  renderRuns(elements.runs, runs, now);
  drawSummary(engines);
  drawStatus();
}

function drawSummary(engines) {
  const counts = {};
  for (const engine of engines) counts[engine.link] = (counts[engine.link] ?? 0) + 1;
  const parts = ['available', 'catching-up', 'unavailable', 'offline']
    .filter((link) => counts[link])
    .map((link) => `${counts[link]} ${link.replace('-', ' ')}`);
  elements.summary.textContent = `${engines.length} engine${engines.length === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

function drawStatus() {
  const live = state.streams.events === 'live' && state.streams.telemetry === 'live';
  const connecting = state.streams.events === 'connecting' || state.streams.telemetry === 'connecting';
  const status = live ? 'live' : connecting ? 'connecting' : 'reconnecting';
  elements.status.dataset.status = status;
  elements.status.textContent =
    status === 'live'
      ? 'Live'
      : status === 'connecting'
        ? 'Connecting…'
        : 'Live updates lost: reconnecting… (what is shown may be out of date)';
}

/** The store (PostgreSQL) out of reach: nothing is acknowledged; engines keep their records meanwhile. */
function showStore({ available, reason }) {
  elements.store.hidden = available;
  elements.store.textContent = available
    ? ''
    : `The store is unavailable${reason ? ` (${reason})` : ''}: nothing is being stored; engines keep their records and send them once it is back.`;
}

// Engines

function setEngine(view) {
  const previous = state.engines.get(view.id);
  const engine = { ...previous, ...view };
  if (engine.link !== 'unavailable') delete engine.reason;
  state.engines.set(view.id, engine);
  noteCatchUp(engine);
}

/** Remembers where a catch-up started, so the bar shows this catch-up's progress (not the engine's history). */
function noteCatchUp(engine) {
  if (engine.link !== 'catching-up') {
    state.catchUpFrom.delete(engine.id);
    return;
  }
  const from = state.catchUpFrom.get(engine.id);
  if (from === undefined || engine.persistedSeq < from) state.catchUpFrom.set(engine.id, engine.persistedSeq);
}

async function refreshEngine(engineId) {
  try {
    const response = await fetch(`api/engines/${encodeURIComponent(engineId)}`);
    if (!response.ok) return;
    const view = await response.json();
    const known = state.engines.get(engineId);
    // A link event newer than this answer wins: keep its state.
    if (known && known.since > view.since) {
      view.link = known.link;
      view.since = known.since;
    }
    setEngine(view);
    render();
  } catch {
    // The event stream tells us when the aggregator is back.
  }
}

async function refreshRuns() {
  try {
    const response = await fetch(`api/runs?limit=${MAX_RUNS}`);
    if (!response.ok) return;
    state.runs.clear();
    for (const run of await response.json()) state.runs.set(`${run.engineId}\n${run.id}`, run);
    render();
  } catch {
    // Retried on the next snapshot.
  }
}

liveStream(
  'api/events',
  {
    snapshot: ({ engines, store }) => {
      state.engines.clear();
      for (const engine of engines) setEngine(engine);
      if (store) showStore(store);
      void refreshRuns();
      render();
    },
    store: (store) => showStore(store),
    engine: ({ engineId, link, since, reason }) => {
      const engine = state.engines.get(engineId) ?? {
        id: engineId,
        persistedSeq: 0,
        targetSeq: 0,
        persistedCount: 0,
        duplicatesIgnored: 0,
        gaps: [],
        lastSeenAt: null,
        currentRun: null,
      };
      setEngine({ ...engine, link, since, reason });
      if (reason) state.engines.get(engineId).reason = reason;
      void refreshEngine(engineId);
      render();
    },
    progress: ({ engineId, persistedSeq, targetSeq }) => {
      const engine = state.engines.get(engineId);
      if (!engine) return;
      setEngine({ ...engine, persistedSeq, targetSeq });
      render();
    },
    run: (run) => {
      state.runs.set(`${run.engineId}\n${run.id}`, run);
      void refreshEngine(run.engineId);
      render();
    },
  },
  (status) => {
    state.streams.events = status;
    render();
  },
);

// Samples and states

/** Adds a point, or replaces the last one in the same bucket of engine time; older points are left out. */
function addPoint(points, t, v) {
  const last = points.at(-1);
  if (last && t < last[0]) return;
  if (last && Math.floor(last[0] / BUCKET_MS) === Math.floor(t / BUCKET_MS)) {
    last[0] = t;
    last[1] = v;
  } else points.push([t, v]);
}

function mergeTelemetry(update, replace) {
  const engine = state.engines.get(update.engineId);
  if (engine && update.persistedSeq >= (engine.persistedSeq ?? 0) && update.epoch === engine.epoch) {
    engine.persistedSeq = update.persistedSeq;
    engine.targetSeq = Math.max(engine.targetSeq ?? 0, update.persistedSeq);
    engine.persistedCount = update.persistedCount;
    engine.lastSeenAt = update.lastSeenAt;
  }
  let entry = state.telemetry.get(update.engineId);
  if (!entry || replace) {
    entry = { tags: new Map(), states: {}, stamp: 0 };
    state.telemetry.set(update.engineId, entry);
  }
  for (const [tag, series] of Object.entries(update.tags)) {
    let known = entry.tags.get(tag);
    if (!known) {
      known = { unit: series.unit, points: [] };
      entry.tags.set(tag, known);
    }
    for (const [t, v] of series.points) addPoint(known.points, t, v);
    const newest = known.points.at(-1)?.[0] ?? 0;
    const keepFrom = known.points.findIndex(([t]) => t >= newest - WINDOW_MS);
    if (keepFrom > 0) known.points.splice(0, keepFrom);
  }
  Object.assign(entry.states, update.states);
  entry.stamp++;
}

liveStream(
  'api/telemetry/events',
  {
    snapshot: ({ engines }) => {
      for (const engine of engines) mergeTelemetry(engine, true);
      render();
    },
    telemetry: (update) => {
      mergeTelemetry(update, false);
      render();
    },
  },
  (status) => {
    state.streams.telemetry = status;
    render();
  },
);

// Commands

/** Posts a command; resolves with the line to show under the command box. */
async function sendCommand(engineId, command) {
  let response;
  let body;
  try {
    response = await fetch(`api/engines/${encodeURIComponent(engineId)}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(command),
    });
    body = await response.json();
  } catch (error) {
    return { ok: false, text: `Could not reach the aggregator: ${error.message}` };
  }
  if (response.status === 200)
    return {
      ok: true,
      text: `${command.name}: done${body.result === undefined ? '' : ` → ${JSON.stringify(body.result)}`}`,
    };
  if (response.status === 409) {
    // Refused: the engine is not available after all. What the aggregator said is the truth.
    const engine = state.engines.get(engineId);
    if (engine && body.link) {
      setEngine({ ...engine, link: body.link, since: body.since });
      render();
    }
    void refreshEngine(engineId);
    return { ok: false, text: `Refused (409 ${body.error}): ${body.message}` };
  }
  if (response.status === 422)
    return { ok: false, text: `${command.name} failed (${body.code}): ${body.message}` };
  return { ok: false, text: `${body.error ?? `HTTP ${response.status}`}: ${body.message ?? ''}`.trim() };
}

// "12 s ago" and durations move on even when nothing happens.
setInterval(render, 1000);
render();
