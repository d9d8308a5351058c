import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

/** The page's files, in src/dashboard/public. Plain HTML, CSS and JavaScript modules: no build step. */
export const DASHBOARD_FILES = [
  'index.html',
  'style.css',
  'app.js',
  'view.js',
  'plot.js',
  'format.js',
  'liveStream.js',
];

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};

/** Only the page's own files, scripts and styles; data comes from the same origin's API and event streams. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface StaticAsset {
  body: Buffer;
  contentType: string;
}

/** Reads the page's files once, at start (they are small), keyed by file name. */
export function loadDashboardAssets(
  directory: URL = new URL('./public/', import.meta.url),
): ReadonlyMap<string, StaticAsset> {
  const assets = new Map<string, StaticAsset>();
  for (const name of DASHBOARD_FILES) {
    const extension = name.slice(name.lastIndexOf('.') + 1);
    assets.set(name, {
      body: readFileSync(new URL(name, directory)),
      contentType: CONTENT_TYPES[extension] ?? 'application/octet-stream',
    });
  }
  return assets;
}

export function sendAsset(response: ServerResponse, asset: StaticAsset): void {
  response.writeHead(200, {
    'content-type': asset.contentType,
    'content-length': asset.body.length,
    // Small files, served from memory: always revalidate so an upgraded aggregator serves its own page.
    'cache-control': 'no-cache',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  response.end(asset.body);
}
