// A componentize-js guest that exercises the probe:runtime imports, driven by its input:
//   {op: "fetch", method?, url, headers?, body?, timeoutMs?} -> {ok: {status, headers, body}} | {err: {kind, message}}
//   {op: "json", document, pointer}                          -> {value} | {error}
//   {op: "clock"}                                             -> {nowMs, elapsedNs}
//   {op: "count"}                                             -> {count} (state of the instance)
//   {op: "spin"}                                              -> never answers
import { fetch } from 'probe:runtime/http@0.1.0';
import { get } from 'probe:runtime/json@0.1.0';
import { nowMs, monotonicNs } from 'probe:runtime/clock@0.1.0';

function viaHttp(req) {
  const request = {
    method: req.method ?? 'GET',
    url: req.url,
    headers: req.headers ?? [],
    body: req.body === undefined ? undefined : new TextEncoder().encode(req.body),
    timeoutMs: req.timeoutMs,
  };
  try {
    const r = fetch(request);
    return { ok: { status: r.status, headers: r.headers, body: new TextDecoder().decode(r.body) } };
  } catch (e) {
    const error = e.payload ?? { tag: 'failed', val: String(e) };
    return { err: { kind: error.tag, message: error.val ?? '' } };
  }
}

let count = 0;

export function execute(input) {
  const req = JSON.parse(input);
  switch (req.op ?? 'fetch') {
    case 'fetch':
      return JSON.stringify(viaHttp(req));
    case 'json':
      try {
        return JSON.stringify({ value: get(req.document, req.pointer) ?? null });
      } catch (e) {
        return JSON.stringify({ error: String(e.payload ?? e) });
      }
    case 'clock': {
      const a = monotonicNs();
      const b = monotonicNs();
      return JSON.stringify({ nowMs: Number(nowMs()), elapsedNs: Number(b - a) });
    }
    case 'count':
      count += 1;
      return JSON.stringify({ count });
    case 'spin':
      for (;;) {}
    default:
      throw `unknown op ${req.op}`;
  }
}
