// The overview's cards and tables: built once (overviewView), filled on every refresh (updateOverview)
// so the publish form beside them keeps what the operator typed. Text only, never markup.

import { h, setChildren, setText } from '/assets/dom.js';
import { icon } from '/assets/icons.js';

const DOORS = [['ws', '/ws'], ['sse', '/sse'], ['pusher', 'Pusher /app']];
const number = new Intl.NumberFormat('en-US');

const sum = (connections) => Object.values(connections || {}).reduce((a, b) => a + b, 0);
const count = (n) => number.format(n || 0);

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

function duration(seconds) {
  if (!seconds) return 'forever';
  if (seconds % 86400 === 0) return `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${seconds} s`;
}

function stat(testid, iconName, label, primary) {
  const value = h('div', { class: 'stat-value', testid });
  const sub = h('div', { class: 'stat-sub', testid: `${testid}-sub` });
  const card = h('div', { class: `card stat${primary ? ' stat-primary' : ''}` },
    h('div', { class: 'stat-label' }, h('span', { class: 'stat-icon' }, icon(iconName)), label), value, sub);
  return { card, value, sub };
}

function card(title, subtitle, body, { testid, extra } = {}) {
  return h('section', { class: 'card', testid },
    h('div', { class: 'card-header' }, h('div', null, h('h2', { class: 'card-title' }, title), subtitle), extra), body);
}

function table(headers, tbody, testid) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table', testid },
    h('thead', null, h('tr', null, headers.map(([text, right]) => h('th', { class: right ? 'right' : null }, text)))), tbody));
}

export function overviewView(overview, publish) {
  const v = {};
  v.title = h('h1', { testid: 'node-name' });
  v.since = h('p', { testid: 'node-since' });
  v.node = stat('conn-node-total', 'users', 'Connections, this node', true);
  v.cluster = stat('conn-cluster-total', 'chart', 'Connections, cluster');
  v.channels = stat('channels-total', 'bell', 'Channels with subscribers');
  v.head = stat('store-head', 'package', 'Store head');
  v.nodeRows = h('tbody', { testid: 'node-rows' });
  v.channelRows = h('tbody', { testid: 'channel-rows' });
  v.channelNote = h('p', { testid: 'channels-note' });
  v.letterRows = h('tbody', { testid: 'dead-letter-rows' });
  v.letterNote = h('p', { testid: 'dead-letters-note' });
  v.store = h('dl', { class: 'facts', testid: 'store-facts' });
  v.root = h('div', { class: 'stack', testid: 'overview' },
    h('div', { class: 'page-header' }, h('div', null, h('div', { class: 'eyebrow' }, 'Operator'), v.title, v.since)),
    h('div', { class: 'stats' }, v.node.card, v.cluster.card, v.channels.card, v.head.card),
    h('div', { class: 'grid grid-main' },
      h('div', { class: 'stack' },
        card('Nodes', h('p', null, 'Open connections per door, from each node\'s snapshot on the broker'),
          table([['Node'], ['Up'], ...DOORS.map(([, label]) => [label, true]), ['Total', true]], v.nodeRows, 'nodes-table'),
          { testid: 'nodes' }),
        card('Channels', v.channelNote, table([['Channel'], ['Subscribers', true]], v.channelRows, 'channels-table'),
          { testid: 'channels' })),
      h('div', { class: 'stack' }, publish, card('Store', h('p', null, 'The event log on this node'), h('div', { class: 'card-body' }, v.store), { testid: 'store' }))),
    card('Dead letters', v.letterNote,
      table([['Received'], ['Topic'], ['Reason'], ['Payload']], v.letterRows, 'dead-letters-table'), { testid: 'dead-letters' }));
  return v;
}

function doorCells(connections, scope) {
  return DOORS.map(([door]) => h('td', { class: 'right num', testid: 'door-count', dataset: { door, scope } }, count(connections[door])));
}

function nodeRow(node) {
  const connections = node.connections || {};
  return h('tr', { testid: 'node-row', dataset: { node: node.name, self: node.self ? 'true' : 'false' } },
    h('td', { class: 'title-cell' }, node.name, node.self ? h('span', { class: 'tag tag-self' }, 'this node') : null),
    h('td', { class: 'nowrap muted' }, node.since_ms ? ago(node.since_ms) : '—'),
    doorCells(connections, node.self ? 'node' : 'other'),
    h('td', { class: 'right num strong', testid: 'node-total' }, count(sum(connections))));
}

function letterRow(letter) {
  const payload = letter.payload + (letter.truncated ? ' …' : '');
  return h('tr', { testid: 'dead-letter', dataset: { id: letter.id } },
    h('td', { class: 'nowrap muted', title: new Date(letter.time_ms).toISOString() }, new Date(letter.time_ms).toLocaleTimeString()),
    h('td', { class: 'mono small', testid: 'dead-letter-topic' }, letter.topic),
    h('td', { class: 'reason', testid: 'dead-letter-reason' }, letter.reason),
    h('td', { class: 'mono small payload', testid: 'dead-letter-payload', title: `${letter.payload_bytes} bytes` }, payload));
}

function fact(label, value, testid) {
  return [h('dt', null, label), h('dd', { testid }, value)];
}

export function updateOverview(v, o) {
  const self = o.node;
  const nodes = o.cluster.nodes;
  setText(v.title, `Node ${self.name}`);
  setText(v.since, `Up ${ago(self.since_ms)} · ${nodes.length} ${nodes.length === 1 ? 'node' : 'nodes'} on the broker`);
  setText(v.node.value, count(sum(self.connections)));
  setText(v.node.sub, DOORS.map(([door, label]) => `${label} ${count(self.connections[door])}`).join(' · '));
  setText(v.cluster.value, count(sum(o.cluster.connections)));
  setText(v.cluster.sub, DOORS.map(([door, label]) => `${label} ${count(o.cluster.connections[door])}`).join(' · '));
  setText(v.channels.value, count(o.channels.total));
  setText(v.channels.sub, `${count(o.channels.subscriptions)} ${o.channels.subscriptions === 1 ? 'subscription' : 'subscriptions'} on this node`);
  setText(v.head.value, count(o.store.head_seq));
  setText(v.head.sub, `epoch ${o.store.epoch}`);

  setChildren(v.nodeRows, nodes.map(nodeRow),
    h('tr', { class: 'total-row', testid: 'cluster-row' }, h('td', null, 'Cluster'), h('td'),
      doorCells(o.cluster.connections, 'cluster'), h('td', { class: 'right num strong', testid: 'cluster-total' }, count(sum(o.cluster.connections)))));

  const busiest = o.channels.busiest;
  setText(v.channelNote, busiest.length < o.channels.total
    ? `The ${busiest.length} busiest of ${count(o.channels.total)}, on this node (every door)` : 'Subscribed on this node, every door');
  setChildren(v.channelRows, busiest.length ? busiest.map((c) => h('tr', { testid: 'channel-row', dataset: { channel: c.channel, subscribers: c.subscribers } },
    h('td', { class: 'mono' }, c.channel), h('td', { class: 'right num', testid: 'channel-subscribers' }, count(c.subscribers))))
    : h('tr', null, h('td', { colspan: 2, class: 'muted empty-row', testid: 'channels-empty' }, 'No channel has a subscriber on this node.')));

  const letters = o.dead_letters.latest;
  setText(v.letterNote, `${letters.length ? `The latest ${letters.length} rejected MQTT ${letters.length === 1 ? 'message' : 'messages'}` : 'Rejected MQTT messages'}`
    + ` · ${count(o.dead_letters.since_start)} since this node started`);
  setChildren(v.letterRows, letters.length ? letters.map(letterRow)
    : h('tr', null, h('td', { colspan: 4, class: 'muted empty-row', testid: 'dead-letters-empty' }, 'No dead letters. Every message matched its route and schema.')));

  const r = o.store.retention;
  setChildren(v.store,
    fact('Head', o.store.head, 'store-head-position'),
    fact('Appended since start', count(o.store.appended_since_start), 'store-appended'),
    fact('Pruned since start', count(o.store.pruned_since_start), 'store-pruned'),
    fact('Retention', `${duration(r.max_age_s)} · ${r.max_per_channel ? `${count(r.max_per_channel)} events per channel` : 'no limit per channel'}`, 'store-retention'));
}
