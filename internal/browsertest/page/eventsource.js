// The script of the browser tests' page (package internal/browsertest, page.go).
// The test calls these functions through the DevTools protocol; the page
// uses the browser's native EventSource and fetch, nothing else.
'use strict';

// record is what the page's streams saw, in the order they saw it.
const record = {
  events: [], // {stream, type, data, lastEventId, origin}
  opens: [], // stream names, once per open (reconnections included)
  errors: [], // {stream, readyState}: 0 means reconnecting, 2 given up
};

const streams = {};
const waiters = new Set();

function changed() {
  for (const w of [...waiters]) w();
}

// openStream opens an EventSource named name on url and records its
// events of the types "message" and types, its opens and its errors.
function openStream(name, url, {withCredentials = false, types = []} = {}) {
  const es = new EventSource(url, {withCredentials});
  streams[name] = es;
  es.onopen = () => { record.opens.push(name); changed(); };
  es.onerror = () => { record.errors.push({stream: name, readyState: es.readyState}); changed(); };
  for (const type of new Set(['message', ...types])) {
    es.addEventListener(type, (e) => {
      record.events.push({stream: name, type: e.type, data: e.data, lastEventId: e.lastEventId, origin: e.origin});
      changed();
    });
  }
}

function closeStream(name) {
  streams[name].close();
}

// until resolves with the record once cond(record) holds, checking again
// at every change: a test waits for events, not for time.
function until(cond) {
  return new Promise((resolve) => {
    const check = () => {
      if (cond(record)) {
        waiters.delete(check);
        resolve(record);
      }
    };
    waiters.add(check);
    check();
  });
}

// fetchFirstEvent reads an event stream with fetch, which, unlike
// EventSource, lets the page set Last-Event-ID itself (as polyfills do),
// and resolves with the status and the text up to the end of the first
// event (the first blank line after a data line), or with the error.
async function fetchFirstEvent(url, headers, credentials) {
  const controller = new AbortController();
  try {
    const resp = await fetch(url, {headers, credentials, signal: controller.signal});
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!/^data:.*\n\n/m.test(text)) {
      const {value, done} = await reader.read();
      if (done) break;
      text += value;
    }
    controller.abort();
    return {status: resp.status, text};
  } catch (e) {
    return {error: String(e)};
  }
}
