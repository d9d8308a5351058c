// What the page shows: one card per engine, and the runs table. Cards are built once and updated in
// place, so what a person types into a command box survives live updates.

import { ago, clockTime, count, duration } from './format.js';
import { renderPlot } from './plot.js';

const LINK_LABEL = {
  available: 'available',
  'catching-up': 'catching up',
  unavailable: 'unavailable',
  offline: 'offline',
};

const COMMANDS_DISABLED = {
  'catching-up': 'Commands are disabled while the engine catches up on its backlog.',
  unavailable: 'Commands are disabled: the engine cannot be reached.',
  offline: 'Commands are disabled: the engine is offline.',
};

function html(name, className, text) {
  const element = document.createElement(name);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** A `<time>` with a machine-readable `datetime` (ISO) and a readable text. */
function timeElement(ms, now) {
  const element = html('time', '', clockTime(ms, now));
  element.dateTime = new Date(ms).toISOString();
  return element;
}

function fact(list, label) {
  list.append(html('dt', '', label));
  const dd = html('dd');
  list.append(dd);
  return dd;
}

/**
 * Builds the card of one engine. `onCommand(engineId, {name, args})` is called when its command form
 * is submitted (args already parsed from JSON); it resolves with `{ok, text}` for the result line.
 */
export function createEngineCard(engineId, onCommand) {
  const root = html('article', 'engine');
  root.dataset.engineId = engineId;
  const header = html('header', 'engine-head');
  const title = html('h3', 'engine-id', engineId);
  const badge = html('span', 'badge');
  header.append(title, badge);

  const detail = html('p', 'link-detail');
  const lost = html('p', 'lost-banner');
  lost.hidden = true;

  const catchUp = html('div', 'catch-up');
  catchUp.hidden = true;
  const bar = html('div', 'bar');
  bar.setAttribute('role', 'progressbar');
  bar.setAttribute('aria-valuemin', '0');
  bar.setAttribute('aria-valuemax', '100');
  const fill = html('div', 'fill');
  bar.append(fill);
  const catchUpText = html('p', 'catch-up-text');
  catchUp.append(bar, catchUpText);

  const facts = html('dl', 'facts');
  const hardware = fact(facts, 'Hardware');
  hardware.className = 'hardware';
  const run = fact(facts, 'Run');
  run.className = 'current-run';
  const records = fact(facts, 'Records');
  records.className = 'records';

  const plot = html('div', 'plot');

  const form = html('form', 'command');
  form.noValidate = true;
  const legend = html('p', 'command-title', 'Command');
  const name = html('input', 'command-name');
  name.name = 'name';
  name.placeholder = 'start, stop, pause, resume, ping';
  name.setAttribute('list', 'command-names');
  name.setAttribute('aria-label', `command for ${engineId}`);
  name.autocomplete = 'off';
  const args = html('input', 'command-args');
  args.name = 'args';
  args.placeholder = 'args (JSON), e.g. {"method":"titration"}';
  args.setAttribute('aria-label', `command arguments for ${engineId}`);
  args.autocomplete = 'off';
  const button = html('button', 'command-send', 'Send');
  button.type = 'submit';
  const note = html('p', 'command-note');
  const result = html('output', 'command-result');
  result.setAttribute('aria-live', 'polite');
  const row = html('div', 'command-row');
  row.append(name, args, button);
  form.append(legend, row, note, result);

  root.append(header, detail, lost, catchUp, facts, plot, form);

  const card = {
    root,
    badge,
    detail,
    lost,
    catchUp,
    bar,
    fill,
    catchUpText,
    hardware,
    run,
    records,
    plot,
    form,
    name,
    args,
    button,
    note,
    result,
    sending: false,
    link: undefined,
    plotStamp: undefined,
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const commandName = name.value.trim();
    if (!commandName) {
      showResult(card, { ok: false, text: 'Name a command first (start, stop, pause, resume, ping).' });
      return;
    }
    let parsedArgs;
    if (args.value.trim()) {
      try {
        parsedArgs = JSON.parse(args.value);
      } catch {
        showResult(card, { ok: false, text: 'The arguments are not valid JSON.' });
        return;
      }
    }
    card.sending = true;
    updateCommandBox(card);
    showResult(card, { ok: true, text: `Sending ${commandName}…`, pending: true });
    try {
      showResult(card, await onCommand(engineId, { name: commandName, args: parsedArgs }));
    } finally {
      card.sending = false;
      updateCommandBox(card);
    }
  });
  return card;
}

function showResult(card, { ok, text, pending = false }) {
  card.result.textContent = pending ? text : `${clockTime(Date.now())} · ${text}`;
  card.result.className = `command-result ${pending ? 'pending' : ok ? 'ok' : 'error'}`;
}

function updateCommandBox(card) {
  const available = card.link === 'available';
  card.button.disabled = !available || card.sending;
  card.name.disabled = !available;
  card.args.disabled = !available;
  card.form.classList.toggle('disabled', !available);
  card.note.textContent = available ? '' : (COMMANDS_DISABLED[card.link] ?? 'Commands are disabled.');
  card.note.hidden = available;
}

function describeLink(card, engine, now) {
  const since = `${clockTime(engine.since, now)} (${duration(now - engine.since)})`;
  card.lost.hidden = engine.link !== 'unavailable';
  switch (engine.link) {
    case 'available':
      card.detail.textContent = `Available since ${since}`;
      break;
    case 'catching-up':
      card.detail.textContent = `Catching up since ${since}`;
      break;
    case 'unavailable': {
      card.detail.textContent = engine.lastSeenAt
        ? `Last frame received at ${clockTime(engine.lastSeenAt, now)}`
        : 'Never heard from';
      const why = engine.reason ? ` (${engine.reason})` : '';
      card.lost.replaceChildren(
        html('strong', '', 'Link lost'),
        ' at ',
        timeElement(engine.since, now),
        `${why}, ${ago(engine.since, now)}. Showing the last known state.`,
      );
      break;
    }
    default:
      card.detail.textContent = engine.lastSeenAt
        ? `Offline · last seen ${clockTime(engine.lastSeenAt, now)} (${ago(engine.lastSeenAt, now)})`
        : 'Offline · never seen';
  }
}

function describeCatchUp(card, engine, catchUpFrom) {
  const catchingUp = engine.link === 'catching-up';
  card.catchUp.hidden = !catchingUp;
  if (!catchingUp) return;
  const from = Math.min(catchUpFrom ?? engine.persistedSeq, engine.persistedSeq);
  const total = Math.max(0, engine.targetSeq - from);
  const done = Math.max(0, engine.persistedSeq - from);
  const left = Math.max(0, engine.targetSeq - engine.persistedSeq);
  const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
  card.fill.style.width = `${percent}%`;
  card.bar.setAttribute('aria-valuenow', String(percent));
  card.catchUpText.textContent = `${count(done)} of ${count(total)} records (${percent} %) · ${count(left)} left`;
}

function describeHardware(card, engine, telemetry, now) {
  const layers = Object.entries(telemetry?.states ?? {}).filter(([key]) => key.startsWith('hardware.'));
  if (layers.length === 0) {
    card.hardware.replaceChildren(html('span', 'muted', 'not reported'));
    return;
  }
  const stale = engine.link !== 'available';
  const items = layers.map(([key, state]) => {
    const value = state.value ?? {};
    const name = key.slice('hardware.'.length);
    const item = html('span', `hw hw-${value.state ?? 'unknown'}`);
    item.dataset.hardware = name;
    item.dataset.state = value.state ?? 'unknown';
    item.append(
      html('strong', '', name),
      `: ${value.state ?? '?'}${value.connection ? ` · ${value.connection}` : ''}`,
    );
    item.title = `reported at ${clockTime(state.t, now)} (engine time)`;
    return item;
  });
  if (stale) items.push(html('span', 'muted', ' last known'));
  card.hardware.replaceChildren(...items);
}

function describeRun(card, engine, now) {
  const run = engine.currentRun;
  if (!run) {
    card.run.replaceChildren(html('span', 'muted', 'none'));
    return;
  }
  const badge = html('span', `badge run-${run.state}`, run.state);
  const parts = [html('strong', '', run.id), ' ', badge];
  if (run.method) parts.push(` ${run.method}`);
  if (run.phase && run.phase !== 'running') parts.push(` · ${run.phase}`);
  parts.push(' · started ', timeElement(run.startedAt, now), ` · ${count(run.records)} records`);
  card.run.replaceChildren(...parts);
}

/** Brings a card up to date with the engine's view, its catch-up start and its telemetry. */
export function updateEngineCard(card, engine, { catchUpFrom, telemetry, now }) {
  card.link = engine.link;
  card.root.dataset.link = engine.link;
  card.root.classList.toggle('interrupted', engine.link === 'unavailable');
  card.root.classList.toggle('offline', engine.link === 'offline');
  card.badge.textContent = LINK_LABEL[engine.link] ?? engine.link;
  card.badge.className = `badge link-${engine.link}`;
  describeLink(card, engine, now);
  describeCatchUp(card, engine, catchUpFrom);
  describeHardware(card, engine, telemetry, now);
  describeRun(card, engine, now);
  const gaps = engine.gaps?.length ?? 0;
  card.records.textContent =
    `${count(engine.persistedCount)} stored · persisted up to seq ${count(engine.persistedSeq)}` +
    (engine.duplicatesIgnored ? ` · ${count(engine.duplicatesIgnored)} duplicates ignored` : '') +
    (gaps ? ` · ${gaps} gap${gaps === 1 ? '' : 's'}` : '') +
    // A fleet of aggregators: the node holding the engine.
    (engine.node === undefined ? '' : ` · node ${engine.node ?? 'none'}`);
  if (telemetry && card.plotStamp !== telemetry.stamp) {
    card.plotStamp = telemetry.stamp;
    renderPlot(card.plot, telemetry.tags);
  } else if (!telemetry && card.plotStamp === undefined) {
    card.plotStamp = null;
    renderPlot(card.plot, new Map());
  }
  updateCommandBox(card);
}

/** Fills the runs table body with `runs` (newest start first). */
export function renderRuns(tbody, runs, now) {
  if (runs.length === 0) {
    const row = html('tr', 'empty');
    const cell = html('td', 'muted', 'No runs yet.');
    cell.colSpan = 9;
    row.append(cell);
    tbody.replaceChildren(row);
    return;
  }
  tbody.replaceChildren(
    ...runs.map((run) => {
      const row = html('tr', 'run-row');
      row.dataset.runId = run.id;
      row.dataset.engineId = run.engineId;
      row.dataset.state = run.state;
      const cells = {
        id: html('td', 'run-id', run.id),
        engine: html('td', 'run-engine', run.engineId),
        state: html('td', 'run-state'),
        method: html('td', 'run-method', run.method ?? ''),
        started: html('td', 'run-started'),
        ended: html('td', 'run-ended'),
        duration: html('td', 'run-duration num'),
        records: html('td', 'run-records num', count(run.records)),
        reason: html('td', 'run-reason', run.reason ?? ''),
      };
      cells.state.append(html('span', `badge run-${run.state}`, run.state));
      if (run.phase && run.phase !== 'running' && (run.state === 'active' || run.state === 'unconfirmed'))
        cells.state.append(` ${run.phase}`);
      cells.started.append(timeElement(run.startedAt, now));
      if (run.endedAt !== null) {
        cells.ended.append(timeElement(run.endedAt, now));
        cells.duration.textContent = duration(run.endedAt - run.startedAt);
      } else cells.ended.append(html('span', 'muted', '—'));
      row.append(...Object.values(cells));
      return row;
    }),
  );
}
