// The ssebridge console: subscribes with the browser's native EventSource
// on v1/events, publishes through the REST mapping, and charts v1/stats.
// URLs are relative, so the console also works behind a path prefix.
import { LineChart } from './chart.js';

const $ = (id) => document.getElementById(id);
const maxRows = 500;
const gapType = 'ssebridge.gap';

// ---- Subscribing -------------------------------------------------------

// The current subscription: its EventSource, its topics and the event
// types it listens for.
let sub = null;

function words(s) {
  return s.split(/[\s,]+/).filter(Boolean);
}

function streamURL(topics, cursor) {
  const q = new URLSearchParams();
  for (const t of topics) q.append('topic', t);
  if (cursor) q.set('last_event_id', cursor);
  return `v1/events?${q}`;
}

function setStatus(el, state, text) {
  el.dataset.state = state;
  el.textContent = text;
}

function subscribe(topics, cursor) {
  unsubscribe();
  setTokenCookie();
  const es = new EventSource(streamURL(topics, cursor));
  sub = { es, topics, types: new Set() };
  const status = $('stream-status');
  setStatus(status, 'connecting', 'connecting');
  es.onopen = () => {
    if (sub?.es === es) setStatus(status, 'open', topics.join(', '));
  };
  es.onerror = () => {
    if (sub?.es !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // A non-200 answer: EventSource gives up for good.
      setStatus(status, 'failed', 'failed');
      explainFailure(es.url);
      unsubscribe(false);
    } else {
      setStatus(status, 'connecting', 'reconnecting');
    }
  };
  listen(gapType);
  for (const t of words($('types').value)) listen(t);
  $('unsubscribe').disabled = false;
  $('subscribe').textContent = 'Resubscribe';
  if (!$('publish-topic').value) $('publish-topic').value = topics[0];
  const page = new URL(location.href);
  page.search = new URLSearchParams(topics.map((t) => ['topic', t])).toString();
  history.replaceState(null, '', page);
}

function unsubscribe(resetStatus = true) {
  if (!sub) return;
  sub.es.close();
  sub = null;
  if (resetStatus) setStatus($('stream-status'), 'closed', 'not subscribed');
  $('unsubscribe').disabled = true;
  $('subscribe').textContent = 'Subscribe';
}

// ---- The token ------------------------------------------------------------

// EventSource cannot set headers: the token goes to the stream in the
// cookie the server reads (its --jwt-cookie). The console removes only a
// cookie it set itself.
const tokenCookie = document.querySelector('meta[name="ssebridge-token-cookie"]').content;
let cookieSet = false;

function token() {
  return $('token').value.trim();
}

function setTokenCookie() {
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  if (token()) {
    document.cookie = `${tokenCookie}=${token()}; path=/; SameSite=Strict${secure}`;
    cookieSet = true;
  } else if (cookieSet) {
    document.cookie = `${tokenCookie}=; path=/; Max-Age=0; SameSite=Strict${secure}`;
    cookieSet = false;
  }
}

// listen makes the subscription deliver events of type t. EventSource has
// no wildcard: an event whose type nobody listens for is dropped.
function listen(t) {
  if (!sub || sub.types.has(t)) return;
  sub.types.add(t);
  const es = sub.es;
  es.addEventListener(t, (e) => {
    if (sub?.es === es) show(e);
  });
}

// updateTypes listens for the types added to the field. They apply from
// now on: to see the earlier events of a new type, subscribe again from
// an earlier position.
function updateTypes() {
  if (sub) words($('types').value).forEach(listen);
}

// ensureType adds t to the types listened for, at once, so that an event
// published right after is shown.
function ensureType(t) {
  const types = words($('types').value);
  if (!types.includes(t)) $('types').value = [...types, t].join(', ');
  listen(t);
}

async function explainFailure(url) {
  const box = $('subscribe-error');
  const abort = new AbortController();
  let text = 'The stream could not be opened.';
  try {
    const res = await fetch(url, { signal: abort.signal, headers: { Accept: 'application/json' } });
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      // The API's one error shape: a google.rpc.Status whose ErrorInfo
      // detail holds the machine-readable reason.
      const reason = body?.details?.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo')?.reason;
      text = body?.message ? `${reason ?? `HTTP ${res.status}`}: ${body.message}` : `HTTP ${res.status}`;
    }
  } catch (err) {
    text = `The stream could not be opened: ${err.message}`;
  } finally {
    abort.abort();
  }
  box.textContent = text;
  box.hidden = false;
}

// ---- The event list ----------------------------------------------------

let shown = 0;

function show(e) {
  const tr = document.createElement('tr');
  tr.className = e.type === gapType ? 'fresh gap' : 'fresh';
  tr.dataset.id = e.lastEventId;
  tr.dataset.type = e.type;
  const cell = (cls, child) => {
    const td = document.createElement('td');
    td.className = cls;
    td.append(child);
    tr.append(td);
  };
  cell('time', clock(new Date()));
  cell('id', e.lastEventId);
  const badge = document.createElement('span');
  badge.textContent = e.type;
  cell('type', badge);
  const pre = document.createElement('pre');
  const pretty = prettyJSON(e.data);
  pre.textContent = pretty ?? e.data;
  if (pretty !== null) pre.className = 'json';
  cell('data', pre);

  const rows = $('events').tBodies[0];
  rows.prepend(tr);
  while (rows.rows.length > maxRows) rows.lastElementChild.remove();
  shown++;
  $('event-count').textContent = rows.rows.length < shown ? `${shown} (latest ${maxRows} shown)` : String(shown);
  $('no-events').hidden = true;
}

// prettyJSON indents data that is a JSON object or array; null otherwise.
function prettyJSON(data) {
  if (!/^\s*[[{]/.test(data)) return null;
  try {
    return JSON.stringify(JSON.parse(data), null, 2);
  } catch {
    return null;
  }
}

function clock(d) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

// ---- Publishing ----------------------------------------------------------

async function publish() {
  const topic = $('publish-topic').value.trim();
  const type = $('publish-type').value.trim();
  const key = $('publish-key').value.trim();
  const result = $('publish-result');
  ensureType(type || 'message');
  const body = { type, data: $('publish-data').value };
  if (key) body.idempotency_key = key;
  result.className = '';
  result.textContent = 'publishing…';
  delete result.dataset.id;
  try {
    const headers = { 'Content-Type': 'application/json' };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const res = await fetch(`v1/topics/${encodeURIComponent(topic)}/events`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    const out = await res.json().catch(() => null);
    if (!res.ok) {
      result.className = 'bad';
      result.textContent = `HTTP ${res.status}: ${out?.message ?? 'no details'}`;
      return;
    }
    result.className = 'ok';
    result.dataset.id = out.id;
    result.textContent = `published ${out.id} · sequence ${out.sequence}` +
      (out.duplicate ? ' · duplicate key: nothing new was published' : '');
  } catch (err) {
    result.className = 'bad';
    result.textContent = `publish failed: ${err.message}`;
  }
}

// ---- Live stats ------------------------------------------------------------

function startStats() {
  const color = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  // Delivered is drawn first: with one subscriber it equals published,
  // which stays visible on top.
  const rates = new LineChart($('rate-chart'), [{ color: color('--delivered') }, { color: color('--published') }]);
  const subscribers = new LineChart($('subscribers-chart'), [{ color: color('--sse') }, { color: color('--grpc') }], { integer: true });
  const status = $('stats-status');
  const es = new EventSource('v1/stats');
  es.onopen = () => setStatus(status, 'open', 'live');
  es.onerror = () => setStatus(status, es.readyState === EventSource.CLOSED ? 'failed' : 'connecting',
    es.readyState === EventSource.CLOSED ? 'failed' : 'reconnecting');
  es.addEventListener('stats', (e) => {
    const s = JSON.parse(e.data);
    const by = s.subscribers_by_transport ?? {};
    rates.push([s.delivered_per_second, s.published_per_second]);
    subscribers.push([by.sse ?? 0, by.grpc ?? 0]);
    const now = $('stats-now');
    now.dataset.subscribers = s.subscribers;
    now.dataset.published = s.published_total;
    now.textContent = `${s.published_per_second} published/s · ${s.delivered_per_second} delivered/s · ` +
      `${s.subscribers} subscriber${s.subscribers === 1 ? '' : 's'} · ${s.published_total} published`;
  });
}

// ---- Wiring ----------------------------------------------------------------

$('subscribe-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  $('subscribe-error').hidden = true;
  const topics = words($('topics').value);
  const start = $('start').value;
  const cursor = start === 'id' ? $('start-id').value.trim() : start;
  if (topics.length) subscribe(topics, cursor);
});
$('unsubscribe').addEventListener('click', () => unsubscribe());
$('start').addEventListener('change', () => {
  $('start-id-label').hidden = $('start').value !== 'id';
});
$('types').addEventListener('change', updateTypes);
$('publish-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  publish();
});
$('clear').addEventListener('click', () => {
  $('events').tBodies[0].replaceChildren();
  shown = 0;
  $('event-count').textContent = '0';
});

startStats();
// /?topic=a&topic=b subscribes at once: a link to a console watching them.
const linked = new URLSearchParams(location.search).getAll('topic').flatMap(words);
if (linked.length) {
  $('topics').value = linked.join(', ');
  subscribe(linked, '');
}
