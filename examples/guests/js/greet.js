// A JavaScript probe, built into a component of the probe:runtime world with componentize-js.
// It greets the input's `name`, using the log, json and clock imports.
import { log } from 'probe:runtime/log@0.1.0';
import { get } from 'probe:runtime/json@0.1.0';
import { monotonicNs } from 'probe:runtime/clock@0.1.0';

export function execute(input) {
  const start = monotonicNs();
  const name = get(input, '/name');
  if (name === undefined) {
    // A thrown string becomes `err(message)`: the call resolves with success: false.
    throw 'input has no "name"';
  }
  log('info', `js probe greeting ${name}`);
  console.log(`greeting ${JSON.parse(name)} from JavaScript`);
  return JSON.stringify({
    greeting: `hello, ${JSON.parse(name)}`,
    language: 'javascript',
    elapsedNs: Number(monotonicNs() - start),
  });
}
