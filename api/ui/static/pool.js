// pool.js is the overview page: the pool's hashrate, miners, shares, the
// network, a 24 h hashrate chart and the recent blocks.
import {getJSON, paths} from './api.js';
import {HashrateChart} from './chart.js';
import {h, fill, message, section, stat, table} from './dom.js';
import {ago, btc, count, difficulty, exactTime, hashrate, isNum, ratio, short} from './format.js';
import {accountLink, badge, list, obj, settle, workerLabel} from './page.js';

const blockLimit = 20;

export function poolPage() {
  const stats = section(null, {'data-section': 'pool-stats'});
  const history = section('Pool hashrate, last 24 hours', {'data-section': 'pool-hashrate'});
  const blocks = section('Recent blocks', {'data-section': 'blocks'});
  const chart = new HashrateChart('pool-hashrate', 'No hashrate recorded in the last 24 hours.');
  history.body.append(chart.el);
  const el = h('div', {class: 'page', 'data-page': 'pool'},
    h('h1', null, 'Pool'), stats.el, history.el, blocks.el);

  return {
    el,
    async refresh(signal) {
      const answers = await Promise.allSettled([
        getJSON(paths.pool(), signal),
        getJSON(paths.poolHashrate(), signal),
        getJSON(paths.blocks(blockLimit), signal),
      ]);
      if (signal.aborted) {
        return;
      }
      settle(stats, answers[0], (p) => fill(stats.body, poolStats(p)));
      settle(history, answers[1], (s) => chart.update(s));
      settle(blocks, answers[2], (b) => fill(blocks.body, blockTable(list(b, 'blocks'))));
    },
    destroy() {
      chart.destroy();
    },
  };
}

function poolStats(p) {
  const rate = obj(p.hashrate);
  const shares = obj(p.shares);
  const net = obj(p.network);
  const last = p.last_block && typeof p.last_block === 'object' ? p.last_block : null;
  const total = isNum(shares.accepted) && isNum(shares.rejected) ? shares.accepted + shares.rejected : NaN;
  return h('div', {class: 'stats'},
    stat('hashrate-10m', 'Hashrate, 10 min', hashrate(rate['10m'])),
    stat('hashrate-1h', 'Hashrate, 1 h', hashrate(rate['1h'])),
    stat('hashrate-24h', 'Hashrate, 24 h', hashrate(rate['24h'])),
    stat('miners', 'Miners online', count(p.miners_online), `${count(p.workers_online)} workers online`),
    stat('shares', 'Shares accepted', count(shares.accepted),
      `${count(shares.rejected)} rejected (${ratio(shares.rejected, total)})`),
    stat('network', 'Network height', count(net.height), `difficulty ${difficulty(net.difficulty)}`,
      isNum(net.difficulty) ? String(net.difficulty) : null),
    stat('last-block', 'Last block', last ? count(last.height) : 'none yet',
      last ? `found ${ago(last.time)}` : null, last ? exactTime(last.time) : null),
    stat('nodes', 'Pool nodes', count(p.nodes)));
}

function blockTable(blocks) {
  if (blocks.length === 0) {
    return message('note', 'No blocks found yet.');
  }
  return table(
    [['Height', 'num'], 'Found', 'Status', ['Confirmations', 'num'], ['Reward', 'num'], 'Finder', 'Hash'],
    blocks.map((b) => h('tr', {'data-block': isNum(b.height) ? b.height : ''},
      h('td', {class: 'num'}, count(b.height)),
      h('td', {title: exactTime(b.time)}, ago(b.time)),
      h('td', null, badge(b.status)),
      h('td', {class: 'num'}, count(b.confirmations)),
      h('td', {class: 'num'}, btc(b.reward)),
      h('td', null, accountLink(b.account, b.finder ? workerLabel(b.finder, b.account) : null)),
      h('td', {class: 'mono', title: typeof b.hash === 'string' ? b.hash : null}, short(b.hash, 8, 8)))));
}
