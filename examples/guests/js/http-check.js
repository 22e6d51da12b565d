// A JavaScript probe that checks an HTTP endpoint through the probe:runtime/http import:
// input {"url": "..."}; answers {url, status, ok, latencyMs}, or err(reason) when the request
// did not go through. Needs capabilities.http for the URL's origin.
import { fetch } from 'probe:runtime/http@0.1.0';
import { monotonicNs } from 'probe:runtime/clock@0.1.0';
import { log } from 'probe:runtime/log@0.1.0';

export function execute(input) {
  const { url } = JSON.parse(input);
  if (typeof url !== 'string') throw 'input needs {"url": "http://..."}';
  const started = monotonicNs();
  let response;
  try {
    response = fetch({ method: 'GET', url, headers: [['accept', 'text/plain']], timeoutMs: 5000 });
  } catch (e) {
    const error = e.payload ?? { tag: 'failed', val: String(e) };
    throw `${error.tag}${error.val ? `: ${error.val}` : ''}`;
  }
  const latencyMs = Number(monotonicNs() - started) / 1e6;
  const answer = { url, status: response.status, ok: response.status >= 200 && response.status < 300, latencyMs };
  log('info', JSON.stringify(answer));
  return JSON.stringify(answer);
}
