// Parley's live web view. Reads the node through POST /rpc (a read-only subset of its
// JSON-RPC) and follows GET /events (one `head` event per committed block). Sends nothing.
'use strict';

const SLOTS_BACK = 16;       // executed slots shown in the timeline and table
const SLOTS_AHEAD = 3;       // future slots (bidding, assigned provers)
const BLOCKS_SHOWN = 8;
const EPOCHS_SHOWN = 6;
const HISTORY = 120;         // slots kept for the charts since the page loaded
const STAGES = ['pending', 'sequenced', 'proven', 'aggregated', 'finalized'];

const state = {
  params: null, head: 0, chainId: null, lastEvent: 0,
  bids: new Map(),       // slot -> { winner: bigint|null, all: bigint[] }
  latency: new Map(),    // slot -> heights from execution to the first transition
  refreshing: false, again: false, backfilled: false,
};

// ---------- small helpers ----------
const $ = (sel) => document.querySelector(sel);
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'onclick') el.addEventListener('click', v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}
const num = (x) => (x === undefined || x === null ? null : Number(BigInt(x)));
const big = (x) => (x === undefined || x === null ? 0n : BigInt(x));
const hex = (n) => '0x' + BigInt(n).toString(16);
const short = (s) => (s && s.length > 14 ? s.slice(0, 8) + '…' + s.slice(-4) : s || '–');
function eth(wei) {
  const w = big(wei);
  if (w === 0n) return '0';
  const gwei = 10n ** 9n;
  if (w < 10n ** 15n) return (Number(w) / 1e9).toLocaleString(undefined, { maximumFractionDigits: 3 }) + ' gwei';
  return (Number(w / gwei) / 1e9).toLocaleString(undefined, { maximumFractionDigits: 6 }) + ' ETH';
}
const gweiNum = (wei) => Number(big(wei)) / 1e9;
const badge = (text, cls) => h('span', { class: 'badge s-' + (cls || text) }, text);
const link = (text, route, title) => h('a', { href: '#/' + route, title: title || text, class: 'mono' }, text);
const addrLink = (a) => (a ? link(short(a), 'address/' + a, a) : '–');
const txLink = (t) => link(short(t), 'tx/' + t, t);
const blockLink = (n) => link('#' + n, 'block/' + n);

// ---------- JSON-RPC through the web port ----------
let nextId = 1;
async function batch(calls) {
  if (calls.length === 0) return [];
  const body = calls.map(([method, params]) => ({ jsonrpc: '2.0', id: nextId++, method, params: params || [] }));
  const res = await fetch('/rpc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out = await res.json();
  if (!Array.isArray(out)) throw new Error(out.error ? out.error.message : 'unexpected answer');
  const byId = new Map(out.map((r) => [r.id, r]));
  return body.map((b) => byId.get(b.id) || { error: { message: 'no answer' } });
}
async function call(method, params) {
  const [r] = await batch([[method, params]]);
  if (r.error) throw new Error(r.error.message);
  return r.result;
}
const ok = (r) => (r && !r.error ? r.result : null);

// ---------- live updates ----------
function follow() {
  const live = $('#live');
  const es = new EventSource('/events');
  es.addEventListener('head', (ev) => {
    const head = JSON.parse(ev.data);
    state.lastEvent = Date.now();
    live.className = 'live on';
    live.textContent = 'live · #' + num(head.number);
    const n = num(head.number);
    if (n !== state.head) { state.head = n; refresh(); }
  });
  es.onerror = () => { live.className = 'live off'; live.textContent = 'reconnecting…'; };
  // Should the stream stall (a proxy that buffers), poll instead.
  setInterval(() => { if (Date.now() - state.lastEvent > 10000) refresh(); }, 5000);
}

async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try { await load(); } catch (e) { console.warn('refresh failed', e); }
  state.refreshing = false;
  if (state.again) { state.again = false; refresh(); }
}

// ---------- loading ----------
async function load() {
  if (!state.params) {
    const [p, c] = await batch([['parley_getProtocolParams'], ['eth_chainId']]);
    state.params = ok(p) || {};
    state.chainId = num(ok(c));
    $('#chain-id').textContent = state.chainId ?? '–';
  }
  const [bn, chain, bridge, pot, provers] = await batch([
    ['eth_blockNumber'], ['parley_getProofChain'], ['parley_getBridge'], ['parley_getPot'],
    ['parley_getRegistry', ['prover']],
  ]);
  const head = num(ok(bn)) ?? state.head;
  state.head = Math.max(state.head, head);
  const proto = state.params.protocol || {};
  const agg = proto.proving && proto.proving.aggregation;

  // Slots: auction and proof state of the recent and the next few.
  const first = Math.max(1, head - SLOTS_BACK + 1);
  const slots = [];
  for (let s = first; s <= head + SLOTS_AHEAD; s++) slots.push(s);
  const sres = await batch(slots.flatMap((s) => [['parley_getSlot', [hex(s)]], ['parley_getProofSlot', [hex(s)]]]));
  const rows = slots.map((s, i) => ({ slot: s, auction: ok(sres[2 * i]), proof: ok(sres[2 * i + 1]) }));
  if (!state.backfilled) {
    // The charts start with the slots before the view, so a fresh page has a history.
    state.backfilled = true;
    const older = [];
    for (let s = Math.max(1, first - (HISTORY - SLOTS_BACK)); s < first; s++) older.push(s);
    const ores = await batch(older.flatMap((s) => [['parley_getSlot', [hex(s)]], ['parley_getProofSlot', [hex(s)]]]));
    remember(older.map((s, i) => ({ slot: s, auction: ok(ores[2 * i]), proof: ok(ores[2 * i + 1]) })));
  }
  remember(rows);

  // Blocks with their transactions, then each transaction's stage.
  const nums = [];
  for (let n = head; n >= Math.max(1, head - BLOCKS_SHOWN + 1); n--) nums.push(n);
  const blocks = (await batch(nums.map((n) => ['eth_getBlockByNumber', [hex(n), true]]))).map(ok).filter(Boolean);
  const txs = blocks.flatMap((b) => b.transactions).slice(0, 60);
  const stages = await batch(txs.map((t) => ['parley_getTransactionStage', [t.hash]]));
  const stageOf = new Map(txs.map((t, i) => [t.hash, ok(stages[i])]));

  // Epochs.
  let epochs = [];
  if (agg) {
    const cur = Math.floor(Math.max(0, head - 1) / num(agg.epoch_slots));
    const es = [];
    for (let e = cur; e >= Math.max(0, cur - EPOCHS_SHOWN + 1); e--) es.push(e);
    epochs = (await batch(es.map((e) => ['parley_getEpoch', [hex(e)]]))).map(ok).filter(Boolean);
    $('#epoch').textContent = cur;
  }

  // Provers' ledger balances (their rewards are paid there).
  const plist = ok(provers) || [];
  const ledgers = await batch(plist.map((p) => ['parley_getLedger', [p.address]]));

  renderSummary(head, ok(chain), ok(bridge), ok(pot));
  renderTimeline(rows, head);
  renderCharts();
  renderSlots(rows, head);
  renderProvers(plist, ledgers.map(ok), rows, head);
  renderEpochs(epochs, ok(bridge), agg);
  renderBlocks(blocks, stageOf);
  await renderRoute();
}

function remember(rows) {
  for (const r of rows) {
    const a = r.auction;
    if (a && a.bids && a.bids.length) {
      state.bids.set(r.slot, { winner: a.winner ? big(a.winner.amount) : null, all: a.bids.map((b) => big(b.amount)) });
    } else if (a && a.winner) {
      state.bids.set(r.slot, { winner: big(a.winner.amount), all: [big(a.winner.amount)] });
    }
    const p = r.proof;
    if (p && p.transitions && p.transitions.length) {
      const at = Math.min(...p.transitions.map((t) => num(t.height)));
      state.latency.set(r.slot, { heights: at - num(p.blockNumber), fallback: p.transitions.some((t) => t.fallback) });
    }
  }
  for (const m of [state.bids, state.latency]) {
    const keys = [...m.keys()].sort((a, b) => a - b);
    while (keys.length > HISTORY) m.delete(keys.shift());
  }
}

// ---------- rendering ----------
function renderSummary(head, chain, bridge, pot) {
  $('#height').textContent = head;
  if (chain) {
    $('#proven-slot').textContent = num(chain.provenSlot);
    const max = num(chain.maxUnproven);
    $('#unproven').textContent = num(chain.unproven) + (max ? ' / ' + max : '') + (chain.backpressure ? ' (backpressure)' : '');
  } else {
    $('#proven-slot').textContent = 'no proving';
    $('#unproven').textContent = '–';
  }
  $('#l1-finalized').textContent = bridge ? num(bridge.queue.l1FinalizedEpochs) : 'no bridge';
  $('#pot').textContent = pot ? eth(pot.provingPot) : '–';
}

function proofState(p, head) {
  if (!p) return null;
  if (p.proven) return p.transitions.some((t) => t.fallback) ? 'proven (fallback)' : 'proven';
  if (p.fallbackPhase !== 'closed') return 'fallback ' + p.fallbackPhase;
  if (head > num(p.windowEnd)) return 'window missed';
  return 'proving';
}

// SVG presentation attributes take plain colours (the same as style.css's variables).
const C = { bid: '#9db8d9', sel: '#b59ad6', proofwin: '#f2c66d', proven: '#4caf6a', late: '#d9534f', fallback: '#e8893a', accent: '#2b62b8', fg: '#1d1d1b' };
const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const k of kids.flat()) if (k !== undefined && k !== null) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}
const tip = (text) => s('title', {}, text);
const SLOT_COLOURS = { open: '#e0b040', revealed: '#e0b040', executed: '#4a78c2', settled: '#4caf6a', withheld: '#d9534f', proposer: '#888', no_bids: '#bbb' };

function renderTimeline(rows, head) {
  const W = 1000, rowH = 18, left = 150, top = 18;
  const lo = Math.max(0, head - SLOTS_BACK - 6), hi = head + SLOTS_AHEAD + 10;
  const x = (hgt) => left + ((Math.min(Math.max(hgt, lo), hi) - lo) / (hi - lo)) * (W - left - 10);
  const H = top + rows.length * rowH + 14;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'slot timeline', id: 'timeline-svg' });
  for (let t = Math.ceil(lo / 5) * 5; t <= hi; t += 5) {
    svg.append(s('line', { x1: x(t), x2: x(t), y1: top - 4, y2: H - 12, stroke: '#eee' }));
    svg.append(s('text', { x: x(t), y: 10, 'text-anchor': 'middle' }, t));
  }
  rows.slice().reverse().forEach((r, i) => {
    const y = top + i * rowH;
    const a = r.auction, p = r.proof;
    const g = s('g', { class: 'slot-row', 'data-slot': r.slot, 'data-state': a ? a.state : 'none' });
    const winner = a && a.winner ? ' · ' + eth(a.winner.amount) : '';
    g.append(s('text', { x: 4, y: y + 12, class: 'label' }, `slot ${r.slot} · ${a ? a.state : '?'}${winner}`));
    if (a) {
      const [b0, b1] = a.bidHeights.map(num), [s0, s1] = a.selectHeights.map(num);
      g.append(s('rect', { x: x(b0), y: y + 3, width: Math.max(2, x(b1 + 1) - x(b0)), height: 5, fill: C['bid'] }, tip(`bids: heights ${b0}–${b1}, ${a.bids.length} bid(s)`)));
      g.append(s('rect', { x: x(s0), y: y + 9, width: Math.max(2, x(s1 + 1) - x(s0)), height: 4, fill: C['sel'] }, tip(`selection: heights ${s0}–${s1}` + (a.selectedBy ? `, selected by ${a.selectedBy}` : ''))));
    }
    if (p) {
      const b = num(p.blockNumber), we = num(p.windowEnd);
      const st = proofState(p, head);
      const fill = p.proven ? C['proven'] : st === 'proving' ? C['proofwin'] : C['late'];
      g.append(s('rect', { x: x(b), y: y + 4, width: Math.max(2, x(we + 1) - x(b)), height: 9, fill, opacity: 0.55 }, tip(`proof window: heights ${b}–${we}, ${st}`)));
      if (p.roundEnd) {
        const re = num(p.roundEnd);
        g.append(s('rect', { x: x(we + 1), y: y + 4, width: Math.max(2, x(re + 1) - x(we + 1)), height: 9, fill: C['fallback'], opacity: 0.7 }, tip(`fallback round ${p.fallbackRounds}: commit until ${num(p.commitEnd)}, reveal until ${re}; bounty ${eth(p.bounty)}`)));
      }
      for (const t of p.transitions) {
        g.append(s('circle', { cx: x(num(t.height)), cy: y + 8.5, r: 4, fill: t.fallback ? C['fallback'] : C['accent'] }, tip(`transition by ${t.prover} at height ${num(t.height)}${t.fallback ? ' (fallback)' : ''}`)));
      }
    }
    if (r.slot <= head) {
      g.append(s('rect', { x: x(r.slot) - 3, y: y + 2, width: 6, height: 13, fill: SLOT_COLOURS[a ? a.state : 'no_bids'] || '#888' }, tip(`slot ${r.slot} executed at height ${r.slot}`)));
    }
    svg.append(g);
  });
  svg.append(s('line', { x1: x(head), x2: x(head), y1: top - 6, y2: H - 10, stroke: C['fg'], 'stroke-width': 1.5 }, tip('head #' + head)));
  svg.append(s('text', { x: x(head), y: H - 1, 'text-anchor': 'middle', class: 'label' }, 'head ' + head));
  $('#timeline').replaceChildren(svg);
}

function axisChart(id, points, opts) {
  const W = 480, H = 190, l = 46, r = 10, t = 10, b = 24;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.label });
  if (points.length === 0) {
    svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, opts.empty));
    $(id).replaceChildren(svg);
    return;
  }
  const xs = points.map((p) => p.x), ys = points.flatMap((p) => p.ys);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y1 = Math.max(...ys, opts.minTop || 1);
  const X = (v) => l + ((v - x0) / (x1 - x0)) * (W - l - r), Y = (v) => H - b - (v / y1) * (H - t - b);
  for (let i = 0; i <= 4; i++) {
    const v = (y1 * i) / 4;
    svg.append(s('line', { x1: l, x2: W - r, y1: Y(v), y2: Y(v), stroke: '#eee' }));
    svg.append(s('text', { x: l - 4, y: Y(v) + 3, 'text-anchor': 'end' }, +v.toPrecision(3)));
  }
  svg.append(s('text', { x: l, y: H - 6 }, opts.xLabel + ' ' + x0));
  svg.append(s('text', { x: W - r, y: H - 6, 'text-anchor': 'end' }, x1));
  svg.append(s('text', { x: 4, y: t + 2, transform: `rotate(-90 4 ${t + 2})`, 'text-anchor': 'end' }, opts.yLabel));
  opts.draw(svg, X, Y, points);
  $(id).replaceChildren(svg);
}

function renderCharts() {
  const bids = [...state.bids.entries()].sort((a, b) => a[0] - b[0]).map(([slot, v]) => ({
    x: slot, ys: v.all.map(gweiNum), winner: v.winner === null ? null : gweiNum(v.winner),
  }));
  axisChart('#bids-chart', bids, {
    label: 'bids per slot', empty: 'no bids seen yet', xLabel: 'slot', yLabel: 'gwei',
    draw(svg, X, Y, pts) {
      for (const p of pts) for (const v of p.ys) svg.append(s('circle', { cx: X(p.x), cy: Y(v), r: 2.5, fill: C['bid'] }, tip(`slot ${p.x}: bid ${v} gwei`)));
      const w = pts.filter((p) => p.winner !== null);
      if (w.length) svg.append(s('polyline', { points: w.map((p) => `${X(p.x)},${Y(p.winner)}`).join(' '), fill: 'none', stroke: C['accent'], 'stroke-width': 1.5 }));
      for (const p of w) svg.append(s('circle', { cx: X(p.x), cy: Y(p.winner), r: 3, fill: C['accent'] }, tip(`slot ${p.x}: winning bid ${p.winner} gwei`)));
    },
  });
  const lat = [...state.latency.entries()].sort((a, b) => a[0] - b[0]).map(([slot, v]) => ({ x: slot, ys: [v.heights], fb: v.fallback }));
  axisChart('#latency-chart', lat, {
    label: 'proof latency per slot', empty: 'no proofs seen yet', xLabel: 'slot', yLabel: 'heights to proof', minTop: 2,
    draw(svg, X, Y, pts) {
      const bw = Math.max(2, Math.min(14, 400 / pts.length));
      for (const p of pts) svg.append(s('rect', { x: X(p.x) - bw / 2, y: Y(p.ys[0]), width: bw, height: Math.max(1, Y(0) - Y(p.ys[0])), fill: p.fb ? C['fallback'] : C['proven'] }, tip(`slot ${p.x}: proven ${p.ys[0]} heights after execution${p.fb ? ' (fallback)' : ''}`)));
    },
  });
}

function renderSlots(rows, head) {
  const body = rows.slice().reverse().map((r) => {
    const a = r.auction || {}, p = r.proof;
    const st = proofState(p, head);
    return h('tr', { 'data-slot': r.slot },
      h('td', {}, r.slot > head ? r.slot + ' (next)' : blockLink(r.slot)),
      h('td', {}, a.state ? badge(a.state) : '–'),
      h('td', {}, (a.bids || []).length),
      h('td', {}, a.winner ? addrLink(a.winner.sequencer) : '–'),
      h('td', {}, a.winner ? eth(a.winner.amount) : '–'),
      h('td', {}, a.selectedBy ? (a.selectedBy === 'app' ? 'app (no Select)' : addrLink(a.selectedBy)) : '–'),
      h('td', {}, (a.provers || []).map((x) => addrLink(x.address))),
      h('td', {}, st ? badge(st, p.proven ? 'proven' : st === 'proving' ? 'open' : 'missed') : (r.slot <= head ? 'none needed' : '–')),
      h('td', {}, p ? num(p.windowEnd) : '–'),
      h('td', {}, p && (p.fallbackRounds || p.commits.length) ? `round ${p.fallbackRounds}, ${p.fallbackPhase}, ${p.commits.length} commit(s)` : '–'),
      h('td', {}, p && !p.proven && big(p.bounty) > 0n ? eth(p.bounty) : '–'));
  });
  $('#slots tbody').replaceChildren(...body);
}

function renderProvers(list, ledgers, rows, head) {
  const body = list.map((p, i) => {
    const a = p.address.toLowerCase();
    let assigned = 0, proved = 0, missed = 0;
    for (const r of rows) {
      if (r.auction && (r.auction.provers || []).some((x) => x.address.toLowerCase() === a)) assigned++;
      if (r.proof && r.proof.transitions.some((t) => t.prover.toLowerCase() === a)) proved++;
      if (r.proof && r.proof.missed.some((m) => m.prover.toLowerCase() === a)) missed++;
    }
    const hb = num(p.lastHeartbeat);
    return h('tr', { 'data-prover': p.address },
      h('td', {}, addrLink(p.address)),
      h('td', {}, eth(p.stake)),
      h('td', {}, (p.reputation * 100).toFixed(1) + ' %'),
      h('td', {}, hb ? `#${hb} (${head - hb} ago)` : 'never'),
      h('td', {}, badge(p.active ? 'active' : 'inactive', p.active ? 'proven' : 'missed')),
      h('td', { class: 'earned' }, eth(p.earned)),
      h('td', { class: 'fined' }, eth(p.fined)),
      h('td', {}, ledgers[i] ? eth(ledgers[i].balance) : '–'),
      h('td', {}, `${assigned} / ${proved} / ${missed}`));
  });
  if (body.length === 0) body.push(h('tr', {}, h('td', { colspan: 9 }, 'no provers registered')));
  $('#provers tbody').replaceChildren(...body);
}

function renderEpochs(epochs, bridge, agg) {
  if (!agg) {
    $('#epochs tbody').replaceChildren(h('tr', {}, h('td', { colspan: 8 }, 'this chain does not aggregate epochs')));
    return;
  }
  const fin = bridge ? num(bridge.queue.l1FinalizedEpochs) : null;
  const body = epochs.map((e) => {
    const n = num(e.epoch);
    const l1 = fin === null ? 'no bridge' : n < fin ? 'finalized' : (bridge.pending && num(bridge.pending.epoch) === n ? 'attesting' : '–');
    return h('tr', { 'data-epoch': n },
      h('td', {}, n),
      h('td', {}, `${num(e.firstSlot)}–${num(e.lastSlot)}`),
      h('td', {}, badge(e.state, e.state === 'aggregated' ? 'aggregated' : 'open')),
      h('td', {}, `${e.blocks.length}` + (num(e.needing) ? ` (${num(e.needing)} to prove)` : '')),
      h('td', {}, e.aggregator ? addrLink(e.aggregator) : '–'),
      h('td', {}, e.aggregatedAt ? `#${num(e.aggregatedAt)} by ` : '', e.aggregatedBy ? addrLink(e.aggregatedBy) : ''),
      h('td', {}, e.l1Proof ? 'yes' : '–'),
      h('td', {}, l1 === 'finalized' ? badge('finalized') : l1));
  });
  $('#epochs tbody').replaceChildren(...body);
  $('#epochs-note').textContent = bridge
    ? `L1 watcher: block ${num(bridge.l1View.l1Block)}, ${num(bridge.queue.consumed)} queue entries consumed` + (bridge.l1View.error ? ` — error: ${bridge.l1View.error}` : '')
    : '';
}

function renderBlocks(blocks, stageOf) {
  const body = blocks.map((b) => h('tr', { 'data-block': num(b.number) },
    h('td', {}, blockLink(num(b.number))),
    h('td', {}, h('span', { class: 'mono', title: b.hash }, short(b.hash))),
    h('td', {}, addrLink(b.miner)),
    h('td', {}, num(b.gasUsed).toLocaleString()),
    h('td', {}, h('div', { class: 'txs' }, b.transactions.length === 0 ? '–' : b.transactions.map((t) => {
      const st = stageOf.get(t.hash);
      return h('div', { 'data-tx': t.hash }, txLink(t.hash), ' ', addrLink(t.from), ' → ', t.to ? addrLink(t.to) : 'create', ' ', st ? badge(st.stage) : '');
    })))));
  $('#blocks tbody').replaceChildren(...body);
}

// ---------- search and detail ----------
function route() {
  const m = location.hash.match(/^#\/(tx|block|address)\/(.+)$/);
  return m ? { kind: m[1], id: decodeURIComponent(m[2]) } : null;
}

function onSearch(ev) {
  ev.preventDefault();
  const q = $('#q').value.trim();
  if (/^0x[0-9a-fA-F]{64}$/.test(q)) location.hash = '#/tx/' + q;
  else if (/^0x[0-9a-fA-F]{40}$/.test(q)) location.hash = '#/address/' + q;
  else if (/^\d+$/.test(q) || /^0x[0-9a-fA-F]{1,16}$/.test(q)) location.hash = '#/block/' + Number(BigInt(q));
  else showDetail('Search', [h('p', { class: 'error' }, `"${q}" is not a transaction or block hash (0x + 64 hex), a block number, or an address (0x + 40 hex)`)]);
}

function showDetail(title, content, kind) {
  const d = $('#detail');
  d.hidden = false;
  if (kind) d.setAttribute('data-kind', kind); else d.removeAttribute('data-kind');
  d.replaceChildren(h('h2', {}, title, h('a', { href: '#', title: 'close' }, '×')), ...content);
}

const dl = (pairs) => h('dl', {}, pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

async function renderRoute() {
  const r = route();
  if (!r) { $('#detail').hidden = true; return; }
  try {
    if (r.kind === 'tx') await showTx(r.id);
    else if (r.kind === 'block') await showBlock(r.id);
    else await showAddress(r.id);
  } catch (e) {
    showDetail('Error', [h('p', { class: 'error' }, String(e.message || e))]);
  }
}

function stageBar(stage) {
  const at = STAGES.indexOf(stage);
  return h('div', { class: 'stages', id: 'tx-stages' }, STAGES.map((st, i) => h('span', { class: i < at ? 'done' : i === at ? 'now' : '' }, st)));
}

async function showTx(hash) {
  const [t, rc, st] = (await batch([['eth_getTransactionByHash', [hash]], ['eth_getTransactionReceipt', [hash]], ['parley_getTransactionStage', [hash]]])).map(ok);
  if (!t && (!st || st.stage === 'unknown')) {
    const b = ok((await batch([['eth_getBlockByHash', [hash, false]]]))[0]);
    if (b) { location.hash = '#/block/' + num(b.number); return; }
    showDetail('Transaction ' + short(hash), [h('p', { id: 'tx-stage', 'data-stage': 'unknown' }, 'This node knows no transaction or block with this hash.')], 'tx');
    return;
  }
  const stage = st ? st.stage : 'unknown';
  showDetail('Transaction ' + short(hash), [
    stageBar(stage),
    dl([
      ['hash', h('span', { class: 'mono' }, hash)],
      ['stage', h('span', { id: 'tx-stage', 'data-stage': stage }, badge(stage))],
      rc && ['status', num(rc.status) === 1 ? 'success' : 'reverted'],
      t && t.blockNumber && ['block', blockLink(num(t.blockNumber))],
      st && st.epoch && ['epoch', num(st.epoch)],
      st && st.slotState && ['slot', badge(st.slotState)],
      st && st.builder && ['built by', addrLink(st.builder)],
      t && ['from', addrLink(t.from)],
      t && ['to', t.to ? addrLink(t.to) : 'contract creation' + (rc && rc.contractAddress ? ' → ' + rc.contractAddress : '')],
      t && ['value', eth(t.value)],
      t && ['nonce', num(t.nonce)],
      rc && ['gas used', num(rc.gasUsed).toLocaleString()],
      rc && ['logs', rc.logs.length],
    ]),
  ], 'tx');
}

async function showBlock(id) {
  const n = Number(id);
  const b = ok((await batch([['eth_getBlockByNumber', [hex(n), true]]]))[0]);
  if (!b) { showDetail('Block #' + n, [h('p', {}, `Block ${n} is not on this node yet (head ${state.head}).`)], 'block'); return; }
  const [a, p] = (await batch([['parley_getSlot', [hex(n)]], ['parley_getProofSlot', [hex(n)]]])).map(ok);
  showDetail('Block #' + n, [dl([
    ['hash', h('span', { class: 'mono' }, b.hash)],
    ['parent', n > 0 ? blockLink(n - 1) : '–'],
    ['time', new Date(num(b.timestamp) * 1000).toISOString()],
    ['builder', addrLink(b.miner)],
    ['gas used', num(b.gasUsed).toLocaleString() + ' of ' + num(b.gasLimit).toLocaleString()],
    ['base fee', b.baseFeePerGas ? eth(b.baseFeePerGas) : '–'],
    ['auction', a ? [badge(a.state), ` ${a.bids.length} bid(s)`, a.winner ? ', winner ' : '', a.winner ? addrLink(a.winner.sequencer) : '', a.winner ? ' at ' + eth(a.winner.amount) : ''] : '–'],
    ['proof', p ? `${proofState(p, state.head)}, window ends at ${num(p.windowEnd)}, ${p.transitions.length} transition(s)` : 'none needed (empty diff) or not proving'],
    ['transactions', b.transactions.length ? h('div', { class: 'txs' }, b.transactions.map((t) => h('div', {}, txLink(t.hash), ' ', addrLink(t.from), ' → ', t.to ? addrLink(t.to) : 'create'))) : 'none'],
  ])], 'block');
}

async function showAddress(a) {
  const [bal, nonce, code, ledger, roles] = (await batch([
    ['eth_getBalance', [a, 'latest']], ['eth_getTransactionCount', [a, 'latest']], ['eth_getCode', [a, 'latest']],
    ['parley_getLedger', [a]], ['parley_getRoles', [a]],
  ])).map(ok);
  const r = roles || {};
  const roleText = [
    r.sequencer && `sequencer (bond ${eth(r.sequencer.bond)})`,
    r.prover && `prover (stake ${eth(r.prover.stake)}, reputation ${(r.prover.reputation * 100).toFixed(1)} %, ${r.prover.active ? 'active' : 'inactive'})`,
    r.validator && `validator (bond ${eth(r.validator.bond)}, power ${num(r.validator.power)}${r.validator.leaving ? ', leaving' : ''})`,
  ].filter(Boolean);
  showDetail('Address ' + short(a), [dl([
    ['address', h('span', { class: 'mono' }, a)],
    ['balance', h('span', { id: 'addr-balance' }, eth(bal))],
    ['nonce', num(nonce)],
    ['code', code && code !== '0x' ? `contract, ${(code.length - 2) / 2} bytes` : 'none (an account)'],
    ['ledger', ledger ? `${eth(ledger.balance)} (protocol nonce ${num(ledger.nonce)})` : '–'],
    ['roles', roleText.length ? roleText.join('; ') : 'none'],
    r.earnings && ['protocol income', `earned ${eth(r.earnings.earned)}, fined ${eth(r.earnings.fined)}`],
    (r.unbonding || []).length && ['unbonding', r.unbonding.map((u) => `${u.role} ${eth(u.amount)} at #${num(u.releaseHeight)}`).join('; ')],
  ])], 'address');
}

// ---------- start ----------
window.addEventListener('hashchange', () => { renderRoute(); });
document.addEventListener('DOMContentLoaded', () => {
  $('#search').addEventListener('submit', onSearch);
  follow();
  refresh();
});
