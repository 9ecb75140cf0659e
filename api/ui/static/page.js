// page.js holds what the pages share: showing one API answer in a
// section, the wording of errors, status badges, links to accounts.
import {ApiError} from './api.js';
import {h, fill, message} from './dom.js';
import {dash, short, text} from './format.js';

// errorText is what to tell the user about a failed call or a failed
// rendering.
export function errorText(err) {
  if (err instanceof ApiError) {
    return err.status === 0 ? `The pool's API did not answer: ${err.message}.` : `The pool's API says: ${err.message}`;
  }
  return `The API's answer could not be shown (${err && err.message ? err.message : err}).`;
}

// settle shows one call's result (from Promise.allSettled) in sec: render
// fills the section's body from the answer and the notice is cleared; on
// a failure the notice says what went wrong and the last figures stay.
export function settle(sec, result, render) {
  if (result.status === 'rejected') {
    fill(sec.msg, message('error', errorText(result.reason)));
    return false;
  }
  try {
    render(result.value);
  } catch (err) {
    fill(sec.msg, message('error', errorText(err)));
    return false;
  }
  fill(sec.msg);
  return true;
}

// list is body[key] when it is an array of objects, else it throws, so
// that a malformed answer is named rather than drawn as an empty table.
export function list(body, key) {
  const v = body[key];
  if (!Array.isArray(v)) {
    throw new Error(`"${key}" is not a list`);
  }
  return v.filter((x) => x !== null && typeof x === 'object');
}

const statusClass = {
  confirmed: 'good', paid: 'good', credited: 'good', online: 'good',
  accepted: 'info', submitted: 'info', immature: 'info',
  planned: 'wait', psbt: 'wait', signed: 'wait', broadcast: 'wait',
  orphaned: 'bad', rejected: 'bad', failed: 'bad', cancelled: 'bad', offline: 'off',
};

// badge shows a block's, payment's or worker's state.
export function badge(status) {
  const s = text(status);
  return h('span', {class: 'badge badge-' + (statusClass[s] || 'other'), 'data-status': s}, s);
}

// accountLink links to an account's page, showing label (default: the
// address, shortened) with the whole address as its title.
export function accountLink(address, label) {
  if (typeof address !== 'string' || address === '') {
    return label ? text(label) : dash;
  }
  return h('a', {href: '#/account/' + encodeURIComponent(address), title: address, class: 'mono'},
    label || short(address));
}

// workerLabel shortens a worker "address.rig" of the given account to
// "…rig" so that tables stay narrow; other names are shown as they are.
export function workerLabel(worker, account) {
  if (typeof worker !== 'string' || worker === '') {
    return dash;
  }
  if (typeof account === 'string' && account !== '' && worker.startsWith(account + '.')) {
    return short(account, 8, 4) + worker.slice(account.length);
  }
  return worker;
}

// obj is v when it is an object, else an empty one, so that a missing
// part of an answer shows as dashes.
export function obj(v) {
  return v && typeof v === 'object' ? v : {};
}
