// account.js is one account's page: its hashrate, workers, balance and
// payments. An address the pool has no shares from, or one that is not an
// address of the pool's network, gets a sentence rather than empty tables.
import {getJSON, paths, ApiError} from './api.js';
import {HashrateChart} from './chart.js';
import {h, fill, message, section, stat, table} from './dom.js';
import {ago, btc, count, dash, difficulty, exactTime, hashrate, isNum, percent, short, text} from './format.js';
import {badge, errorText, list, obj, settle, workerLabel} from './page.js';

// accountPrompt is the page at #/account, before an address is given.
export function accountPrompt() {
  return {
    el: h('div', {class: 'page', 'data-page': 'account-prompt'},
      h('h1', null, 'Account'),
      message('note', 'Enter a Bitcoin address in the box at the top to see its workers, hashrate, balance and payments.')),
    focus: true,
  };
}

export function accountPage(address) {
  const notice = h('div', {class: 'section-msg'});
  const summary = section(null, {'data-section': 'account-stats'});
  const history = section('Hashrate, last 24 hours', {'data-section': 'account-hashrate'});
  const workers = section('Workers', {'data-section': 'workers'});
  const payments = section('Payments', {'data-section': 'payments'});
  const chart = new HashrateChart('account-hashrate', 'No hashrate from this address in the last 24 hours.');
  history.body.append(chart.el);
  const parts = h('div', {hidden: true}, summary.el, history.el, workers.el, payments.el);
  const el = h('div', {class: 'page', 'data-page': 'account', 'data-account': address},
    h('h1', null, 'Account'),
    h('p', {class: 'address mono'}, address),
    notice, parts);
  let shown = false;

  return {
    el,
    async refresh(signal) {
      const answers = await Promise.allSettled([
        getJSON(paths.account(address), signal),
        getJSON(paths.accountHashrate(address), signal),
      ]);
      if (signal.aborted) {
        return;
      }
      const [acct, series] = answers;
      if (acct.status === 'rejected') {
        const err = acct.reason;
        if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
          // Not an account (yet): the figures of an earlier refresh, if
          // any, no longer hold.
          parts.hidden = true;
          shown = false;
        }
        fill(notice, accountError(err));
        return;
      }
      fill(notice);
      settle(summary, acct, (a) => fill(summary.body, accountStats(a)));
      settle(workers, acct, (a) => fill(workers.body, workerTable(list(a, 'workers'), address)));
      settle(payments, acct, (a) => fill(payments.body, paymentTable(list(a, 'payments'))));
      settle(history, series, (s) => chart.update(s));
      if (!shown) {
        parts.hidden = false;
        shown = true;
      }
    },
    destroy() {
      chart.destroy();
    },
  };
}

function accountError(err) {
  if (err instanceof ApiError && err.status === 404) {
    return h('div', {'data-state': 'unknown-account'},
      message('note', h('strong', null, 'No shares from this address yet.'),
        ' Once a miner works with this address as its user name, its workers and hashrate show here within a few minutes.'));
  }
  if (err instanceof ApiError && err.status === 400) {
    return h('div', {'data-state': 'bad-address'},
      message('error', `This is not an address the pool can look up: ${err.message}`));
  }
  return message('error', errorText(err));
}

function accountStats(a) {
  const rate = obj(a.hashrate);
  const ws = Array.isArray(a.workers) ? a.workers : [];
  const online = ws.filter((w) => w && w.online === true).length;
  return h('div', {class: 'stats'},
    stat('hashrate-10m', 'Hashrate, 10 min', hashrate(rate['10m'])),
    stat('hashrate-1h', 'Hashrate, 1 h', hashrate(rate['1h'])),
    stat('hashrate-24h', 'Hashrate, 24 h', hashrate(rate['24h'])),
    stat('workers', 'Workers online', count(online), `of ${count(ws.length)}`),
    stat('balance', 'Balance', amount(a.balance), 'credited, not yet paid'),
    stat('pending', 'Pending', amount(a.pending), 'in a payment under way'),
    stat('paid', 'Paid', amount(a.paid), 'in all'));
}

// amount is btc() with a smaller unit, so that eight decimals fit a card.
function amount(sats) {
  const s = btc(sats);
  return s.endsWith(' BTC') ? [s.slice(0, -4), h('span', {class: 'unit'}, ' BTC')] : s;
}

function workerTable(workers, address) {
  if (workers.length === 0) {
    return message('note', 'No workers have sent shares from this address lately.');
  }
  const rows = [...workers].sort((x, y) =>
    (x.online === y.online ? 0 : x.online ? -1 : 1) || String(x.name).localeCompare(String(y.name)));
  // Difficulty and reject rate are known only for workers connected to the
  // node that answered: their columns appear when some worker has them.
  const withDiff = rows.some((w) => isNum(w.difficulty));
  const withRejects = rows.some((w) => isNum(w.reject_rate));
  const heads = ['Worker', 'Status', ['Hashrate (1 h)', 'num'], 'Last share'];
  if (withDiff) {
    heads.push(['Difficulty', 'num']);
  }
  if (withRejects) {
    heads.push(['Reject rate', 'num']);
  }
  return table(heads, rows.map((w) => h('tr', {'data-worker': text(w.name)},
    h('td', {title: typeof w.name === 'string' ? w.name : null}, workerLabel(w.name, address)),
    h('td', null, w.online === true ? badge('online') : w.online === false ? badge('offline') : dash),
    h('td', {class: 'num', 'data-hashrate': isNum(w.hashrate) ? w.hashrate : null}, hashrate(w.hashrate)),
    h('td', {title: exactTime(w.last_share)}, ago(w.last_share)),
    withDiff ? h('td', {class: 'num'}, difficulty(w.difficulty)) : null,
    withRejects ? h('td', {class: 'num'}, percent(w.reject_rate)) : null)));
}

function paymentTable(payments) {
  if (payments.length === 0) {
    return message('note', 'No payments yet.');
  }
  return table(['Time', ['Amount', 'num'], 'State', 'Transaction', 'Batch'],
    payments.map((p) => h('tr', {'data-payment': text(p.batch)},
      h('td', {title: exactTime(p.time)}, ago(p.time)),
      h('td', {class: 'num'}, btc(p.amount)),
      h('td', null, badge(p.state)),
      h('td', {class: 'mono', title: typeof p.txid === 'string' ? p.txid : null}, short(p.txid, 8, 8)),
      h('td', {class: 'mono'}, text(p.batch)))));
}
