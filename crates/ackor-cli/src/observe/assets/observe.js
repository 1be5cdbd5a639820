// The ackor observer page: renders each snapshot the server pushes (server-sent events,
// `/api/events`) and, for a followed process, polls `/api/process` every second.
// Plain DOM; every text goes in through textContent.
'use strict';

const $ = (id) => document.getElementById(id);
const known = new Set(); // pids seen in earlier snapshots, to mark new rows
let first = true;
let followed = null;
let followTimer = null;
let snapshots = 0;

function show(v) { return v === null || v === undefined ? '–' : String(v); }

function cell(tr, value, cls) {
  const td = document.createElement('td');
  if (value instanceof Node) td.appendChild(value); else td.textContent = show(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function duration(ms) {
  if (ms === null || ms === undefined) return null;
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

function bytes(n) {
  if (n === null || n === undefined) return null;
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

function sum(obj) { return Object.values(obj || {}).reduce((a, b) => a + b, 0); }

function replaceRows(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows);
}

function renderImportant(s) {
  const target = s.nodes.find((n) => n.name === s.target);
  const imp = target ? target.important : null;
  $('important-of').textContent = s.target;
  $('sent').textContent = show(imp && imp.sent);
  $('acked').textContent = show(imp && imp.acked);
  $('nacked').textContent = show(imp && sum(imp.nacked));
  $('resent').textContent = show(imp && imp.resent);
  $('deduplicated').textContent = show(imp && imp.deduplicated);
  $('responses-ignored').textContent = show(imp && imp.responses_ignored);
  $('requests-in-flight').textContent = show(target && target.requests_in_flight);
  const reasons = Object.entries((imp && imp.nacked) || {}).map(([reason, count]) => {
    const li = document.createElement('li');
    li.dataset.reason = reason;
    li.textContent = reason + ': ' + count;
    return li;
  });
  $('nacked-reasons').replaceChildren(...reasons);
  const note = $('important-note');
  note.hidden = !!imp;
  note.textContent = target && target.error
    ? 'The node does not answer: ' + target.error
    : 'This node does not report important-delivery counters.';
}

function renderNodes(s) {
  replaceRows($('nodes'), s.nodes.map((n) => {
    const tr = document.createElement('tr');
    tr.dataset.node = n.name;
    cell(tr, n.name + (n.name === s.target ? ' (observed)' : n.name === s.observer ? ' (observer)' : ''));
    cell(tr, n.creation, 'num');
    cell(tr, duration(n.uptime_ms), 'num');
    cell(tr, n.process_count, 'num');
    cell(tr, n.requests_in_flight, 'num');
    cell(tr, n.important && n.important.sent, 'num sent');
    cell(tr, n.important && n.important.acked, 'num acked');
    cell(tr, n.important && sum(n.important.nacked), 'num nacked');
    cell(tr, n.error ? n.error : 'answering', n.error ? 'error' : '');
    return tr;
  }));
  $('node-count').textContent = s.nodes.length;
}

function renderLinks(s) {
  replaceRows($('links'), s.links.map((l) => {
    const tr = document.createElement('tr');
    tr.dataset.from = l.from;
    tr.dataset.to = l.to;
    cell(tr, l.from);
    cell(tr, l.to);
    cell(tr, l.status);
    cell(tr, l.connections, 'num');
    cell(tr, l.rtt_us === null ? null : (l.rtt_us / 1000).toFixed(2) + ' ms', 'num');
    cell(tr, bytes(l.bytes_sent), 'num');
    cell(tr, bytes(l.bytes_received), 'num');
    cell(tr, l.unacked_important, 'num');
    return tr;
  }));
}

function svg(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// The nodes on a circle, the target on top; a line for each pair with a link.
function renderGraph(s) {
  const names = s.nodes.map((n) => n.name);
  for (const l of s.links) for (const n of [l.from, l.to]) if (!names.includes(n)) names.push(n);
  const at = {};
  const r = names.length > 1 ? 90 : 0;
  names.forEach((n, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / names.length;
    at[n] = [180 + r * Math.cos(a), 125 + r * Math.sin(a)];
  });
  const parts = [];
  const drawn = new Set();
  for (const l of s.links) {
    const key = [l.from, l.to].sort().join(' ');
    if (drawn.has(key)) continue;
    drawn.add(key);
    const [x1, y1] = at[l.from];
    const [x2, y2] = at[l.to];
    parts.push(svg('line', { x1, y1, x2, y2, class: l.status === 'up' ? 'up' : '' }));
  }
  for (const n of names) {
    const [x, y] = at[n];
    const node = s.nodes.find((v) => v.name === n);
    const cls = n === s.target ? 'target' : (!node || node.error ? 'down' : '');
    const circle = svg('circle', { cx: x, cy: y, r: 9, class: cls });
    circle.dataset.node = n;
    parts.push(circle);
    const title = svg('title', {});
    title.textContent = n;
    circle.appendChild(title);
    const label = svg('text', { x, y: y + 22 });
    label.textContent = n.split('@')[0];
    parts.push(label);
  }
  $('graph').replaceChildren(...parts);
}

function mailbox(p) {
  const wrap = document.createElement('span');
  const bar = document.createElement('span');
  const fill = document.createElement('span');
  const ratio = p.mailbox_capacity ? Math.min(1, p.mailbox_len / p.mailbox_capacity) : 0;
  bar.className = 'bar' + (ratio >= 1 ? ' full' : '');
  fill.style.width = (ratio * 100).toFixed(0) + '%';
  bar.appendChild(fill);
  wrap.appendChild(bar);
  wrap.appendChild(document.createTextNode(p.mailbox_len + '/' + p.mailbox_capacity));
  return wrap;
}

function renderProcesses(s) {
  const filter = $('filter').value.trim().toLowerCase();
  const rows = [];
  for (const p of s.processes) {
    const fresh = !first && !known.has(p.pid);
    known.add(p.pid);
    const haystack = [p.node, p.pid, p.name || '', p.actor_type].join(' ').toLowerCase();
    if (filter && !haystack.includes(filter)) continue;
    const tr = document.createElement('tr');
    tr.dataset.pid = p.pid;
    tr.dataset.node = p.node;
    if (p.name) tr.dataset.name = p.name;
    tr.dataset.state = p.state;
    if (p.pid === followed) tr.classList.add('followed');
    if (fresh) tr.classList.add('new');
    tr.addEventListener('click', () => follow(p.pid));
    cell(tr, p.node);
    cell(tr, p.pid, 'mono');
    cell(tr, p.name);
    // The type's last path segment; the whole path in its tooltip.
    cell(tr, p.actor_type.split('::').pop(), 'mono').title = p.actor_type;
    cell(tr, mailbox(p));
    cell(tr, p.system_len, 'num');
    cell(tr, p.state);
    cell(tr, p.handled, 'num handled');
    cell(tr, p.rate === null ? null : p.rate.toFixed(1), 'num rate');
    cell(tr, p.requests_in_flight, 'num');
    cell(tr, p.stashed, 'num');
    cell(tr, p.last_failure, p.last_failure ? 'error' : '');
    rows.push(tr);
  }
  first = false;
  replaceRows($('processes'), rows);
  $('process-count').textContent = s.processes.length;
}

function render(s) {
  $('target').textContent = s.target;
  $('observer').textContent = s.observer;
  $('updated').textContent = new Date(s.at_unix_ms).toLocaleTimeString();
  renderImportant(s);
  renderNodes(s);
  renderLinks(s);
  renderGraph(s);
  renderProcesses(s);
  snapshots += 1;
  document.body.dataset.snapshots = snapshots;
}

function setLive(state) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = state;
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('snapshot', (e) => {
    setLive('live');
    render(JSON.parse(e.data));
  });
  // EventSource reconnects by itself; say so meanwhile.
  events.onerror = () => setLive('reconnecting');
}

function list(pids) {
  if (pids === null || pids === undefined) return 'not reported';
  return pids.length ? pids.join(', ') : 'none';
}

function renderDetail(d) {
  const info = [
    ['node', d.info.node], ['name', d.info.name], ['type', d.info.actor_type],
    ['state', d.info.state], ['mailbox', d.info.mailbox_len + '/' + d.info.mailbox_capacity],
    ['handled', d.info.handled], ['requests in flight', d.info.requests_in_flight],
    ['stashed', d.info.stashed], ['last failure', d.info.last_failure],
    ['links', list(d.links)], ['monitors', list(d.monitors)], ['monitored by', list(d.monitored_by)],
  ];
  $('follow-info').replaceChildren(...info.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = show(v);
    return [dt, dd];
  }));
  const note = $('recent-note');
  note.hidden = !!(d.recent && d.recent.length);
  note.textContent = d.recent
    ? 'None yet: its node records the messages it handles from now on (for a minute after the last look).'
    : 'Its node does not record the messages a process handles.';
  const recent = (d.recent || []).slice().reverse();
  replaceRows($('recent'), recent.map((m) => {
    const tr = document.createElement('tr');
    tr.dataset.traceId = m.trace_id;
    cell(tr, new Date(m.at_unix_ms).toLocaleTimeString());
    cell(tr, m.message, 'mono');
    cell(tr, m.trace_id, 'mono trace');
    cell(tr, m.span_id, 'mono');
    return tr;
  }));
}

async function poll() {
  if (!followed) return;
  const pid = followed;
  try {
    const res = await fetch('/api/process?pid=' + encodeURIComponent(pid));
    if (pid !== followed) return;
    if (res.ok) {
      const detail = await res.json();
      renderDetail(detail);
      $('follow-status').textContent = 'updated ' + new Date().toLocaleTimeString() +
        (detail.recent === null ? '' : '; its node records the messages it handles while it is followed');
    } else {
      $('follow-status').textContent = await res.text();
    }
  } catch (e) {
    $('follow-status').textContent = 'the observer does not answer: ' + e;
  }
}

function follow(pid) {
  followed = pid;
  location.hash = 'pid=' + encodeURIComponent(pid);
  $('follow').hidden = false;
  $('follow-pid').textContent = pid;
  $('follow-info').replaceChildren();
  replaceRows($('recent'), []);
  for (const tr of $('processes').tBodies[0].rows) tr.classList.toggle('followed', tr.dataset.pid === pid);
  clearInterval(followTimer);
  followTimer = setInterval(poll, 1000);
  poll();
}

function unfollow() {
  followed = null;
  clearInterval(followTimer);
  $('follow').hidden = true;
  history.replaceState(null, '', location.pathname);
  for (const tr of $('processes').tBodies[0].rows) tr.classList.remove('followed');
}

$('unfollow').addEventListener('click', unfollow);
$('filter').addEventListener('input', () => fetch('/api/snapshot').then((r) => r.json()).then(render).catch(() => {}));
const wanted = new URLSearchParams(location.hash.slice(1)).get('pid');
if (wanted) follow(wanted);
connect();
