// A componentize-js guest that hands its input (a request) to the probe:runtime/http import and
// answers what came back: {ok: {status, headers, body}} or {err: {kind, message}}.
import { fetch } from 'probe:runtime/http@0.1.0';

export function execute(input) {
  const req = JSON.parse(input);
  const request = {
    method: req.method ?? 'GET',
    url: req.url,
    headers: req.headers ?? [],
    body: req.body === undefined ? undefined : new TextEncoder().encode(req.body),
    timeoutMs: req.timeoutMs,
  };
  try {
    const r = fetch(request);
    return JSON.stringify({ ok: { status: r.status, headers: r.headers, body: new TextDecoder().decode(r.body) } });
  } catch (e) {
    const error = e.payload ?? { tag: 'failed', val: String(e) };
    return JSON.stringify({ err: { kind: error.tag, message: error.val ?? '' } });
  }
}
