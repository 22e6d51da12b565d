// A componentize-js guest that uses the global fetch(): its requests go out through
// wasi:http/outgoing-handler, which the runtime routes through the same policy and Node bridge
// as the probe http import. Input: {url, count?}; it fetches `url` `count` times at once.
export async function execute(input) {
  const { url, count = 1 } = JSON.parse(input);
  const one = async () => {
    try {
      const response = await fetch(url);
      return { status: response.status, body: await response.text() };
    } catch (e) {
      return { error: String(e && e.message ? e.message : e) };
    }
  };
  const results = await Promise.all(Array.from({ length: count }, one));
  return JSON.stringify(count === 1 ? results[0] : results);
}
