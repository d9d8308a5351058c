/**
 * A reader of the Prometheus text exposition format (0.0.4), strict enough to catch what a scraper
 * would refuse: every sample belongs to a family declared with `# HELP` and `# TYPE`, names and labels are
 * well formed, label values are quoted with the format's escapes, values are numbers.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value as Prometheus reads it (Go's ParseFloat: `NaN` and `Inf` in any case; prom-client writes `Nan`). */
function parseValue(text: string, line: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (lower === 'nan') return Number.NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`not a number in ${JSON.stringify(line)}`);
  return value;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    const name = text.slice(i, eq);
    if (eq < 0 || !LABEL.test(name) || text[eq + 1] !== '"')
      throw new Error(`bad label in ${JSON.stringify(line)}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        value += next === 'n' ? '\n' : next;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in ${JSON.stringify(line)}`);
    if (name in labels) throw new Error(`label ${name} twice in ${JSON.stringify(line)}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) throw new Error(`bad label separator in ${JSON.stringify(line)}`);
  }
  return labels;
}

/** The families of an exposition, by name; throws on anything malformed. */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string): Family | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const family = families.get(sample.slice(0, sample.length - suffix.length));
      if (family && (suffix === '' || family.type === 'histogram' || family.type === 'summary'))
        return family;
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      const family = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'HELP') family.help = rest;
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`bad type in ${JSON.stringify(line)}`);
        family.type = rest as Family['type'];
      }
      families.set(name, family);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!sample) throw new Error(`malformed sample line ${JSON.stringify(line)}`);
    const [, name, labels, value] = sample as unknown as [string, string, string | undefined, string];
    const family = familyOf(name);
    if (!family) throw new Error(`sample ${name} before its # TYPE`);
    family.samples.push({
      name,
      labels: labels ? parseLabels(labels, line) : {},
      value: parseValue(value, line),
    });
  }
  for (const family of families.values()) {
    if (!family.help) throw new Error(`${family.name} has no # HELP`);
    if (family.type === 'untyped') throw new Error(`${family.name} has no # TYPE`);
  }
  return families;
}

/** Checks a histogram family: cumulative buckets ending at +Inf, which equals _count. */
export function checkHistogram(family: Family): { count: number; sum: number } {
  const buckets = family.samples.filter((s) => s.name.endsWith('_bucket'));
  const count = family.samples.find((s) => s.name.endsWith('_count'))?.value;
  const sum = family.samples.find((s) => s.name.endsWith('_sum'))?.value;
  if (count === undefined || sum === undefined) throw new Error(`${family.name}: no _count or _sum`);
  let previous = 0;
  for (const bucket of buckets) {
    if (bucket.value < previous) throw new Error(`${family.name}: buckets not cumulative`);
    previous = bucket.value;
  }
  const inf = buckets.find((b) => b.labels.le === '+Inf');
  if (!inf || inf.value !== count) throw new Error(`${family.name}: +Inf bucket is not _count`);
  return { count, sum };
}
