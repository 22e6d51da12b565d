// A componentize-js guest of the typed test world (typed.wit): every WIT type kind in and out,
// guest errors, instance state, JavaScript-implemented imports, and events around a slow request.
import { emit } from 'probe:runtime/events@0.1.0';
import { fetch } from 'probe:runtime/http@0.1.0';
import { getLine, showMessage, readDocument, offsetAt } from 'test:typed/editor@0.1.0';

let counter = 0;

class Counter {
  constructor() {
    this.n = 0;
  }
  next() {
    this.n += 1;
    return this.n;
  }
}

export const api = {
  Counter,
  makeCounter() {
    return new Counter();
  },
  echo(value) {
    return value;
  },
  add(a, b) {
    return BigInt.asUintN(64, a + b);
  },
  area(shape) {
    switch (shape.tag) {
      case 'circle':
        return Math.PI * shape.val * shape.val;
      case 'rect':
        return Math.abs(shape.val.x * shape.val.y);
      default:
        return 0;
    }
  },
  translate(points, dx) {
    return points.map((p) => ({ x: p.x + dx, y: p.y }));
  },
  pick(color, perms) {
    const set = Object.entries(perms)
      .filter(([, on]) => on)
      .map(([name]) => name);
    return `${color}:${set.join(',')}`;
  },
  checkedDiv(a, b) {
    if (b === 0) throw 'division by zero';
    return Math.trunc(a / b);
  },
  parsePosition(text) {
    if (text === '') throw { tag: 'empty' };
    const [line, character] = text.split(':').map(Number);
    if (!Number.isInteger(line) || !Number.isInteger(character)) throw { tag: 'bad-number', val: text };
    return { line, character };
  },
  bytesLen(bytes) {
    return bytes.length;
  },
  maybeDouble(n) {
    return n === undefined ? undefined : n * 2;
  },
  nested(n) {
    return n;
  },
  count() {
    counter += 1;
    return counter;
  },
  lineViaEditor(uri, line) {
    return getLine(uri, line);
  },
  readViaEditor(uri) {
    return readDocument(uri);
  },
  offsetViaEditor(line, character) {
    return offsetAt({ line, character });
  },
  notify(text) {
    showMessage(text);
  },
  slowFetch(url) {
    emit('loading', JSON.stringify({ url }));
    try {
      const response = fetch({ method: 'GET', url, headers: [], body: undefined, timeoutMs: undefined });
      emit('loaded', JSON.stringify({ status: response.status }));
      return response.status;
    } catch (e) {
      throw `fetch failed: ${e.payload ? e.payload.tag : e}`;
    }
  },
};

export function hello(name) {
  return `hello, ${name}`;
}

export function execute(input) {
  const { points, dx } = JSON.parse(input);
  return JSON.stringify(api.translate(points, dx));
}
