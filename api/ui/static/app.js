// app.js starts the dashboard: it picks the page from the URL's fragment
// (#/ the pool, #/account/<address> an account, #/energy the place kept
// for per-site energy), refreshes it every 30 s while the tab is visible,
// and wires the address box.
import {accountPage, accountPrompt} from './account.js';
import {h, fill, message} from './dom.js';
import {poolPage} from './pool.js';

const refreshMs = 30000;

const main = document.getElementById('main');
const updated = document.getElementById('updated');
const search = document.getElementById('search');
const input = document.getElementById('search-address');

let current = null; // {page, controller, nav}
let running = null; // the refresh under way, if any
let missed = false; // a refresh came due while the tab was hidden

// route maps a fragment to a page and the nav entry it belongs to.
function route(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/');
  switch (parts[0]) {
  case '':
    return {nav: 'pool', page: poolPage()};
  case 'account': {
    const address = decode(parts.slice(1).join('/')).trim();
    return {nav: 'account', address, page: address ? accountPage(address) : accountPrompt()};
  }
  case 'energy':
    return {nav: 'energy', page: energyPage()};
  default:
    return {nav: null, page: notFound()};
  }
}

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// energyPage keeps the nav's place for the per-site energy page.
function energyPage() {
  return {
    el: h('div', {class: 'page', 'data-page': 'energy'},
      h('h1', null, 'Energy'),
      message('note', 'Per-site energy (the work each mining site did and the energy it stands for) will be shown here.')),
  };
}

function notFound() {
  return {
    el: h('div', {class: 'page', 'data-page': 'not-found'},
      h('h1', null, 'Not found'),
      message('error', 'The dashboard has no such page. ', h('a', {href: '#/'}, 'Go to the pool overview.'))),
  };
}

function show() {
  if (current) {
    current.controller.abort();
    if (current.page.destroy) {
      current.page.destroy();
    }
  }
  const r = route(location.hash);
  current = {page: r.page, controller: new AbortController()};
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === r.nav);
  }
  if (r.nav === 'account') {
    input.value = r.address || '';
  }
  fill(main, r.page.el);
  if (r.page.focus) {
    input.focus();
  }
  running = null;
  refresh();
}

// refresh reloads the current page's figures, one refresh at a time.
async function refresh() {
  const cur = current;
  if (!cur.page.refresh || running) {
    return;
  }
  const run = (async () => {
    try {
      await cur.page.refresh(cur.controller.signal);
    } catch (err) {
      if (err.name !== 'AbortError') {
        main.prepend(message('error', `The page could not be updated: ${err.message}`));
      }
    }
  })();
  running = run;
  await run;
  if (running === run) {
    running = null;
  }
  if (cur === current && !cur.controller.signal.aborted) {
    const now = new Date();
    updated.textContent = `Updated ${now.toLocaleTimeString()}`;
    updated.setAttribute('title', now.toString());
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  }
}

search.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const address = input.value.trim();
  if (address === '') {
    input.focus();
    return;
  }
  const hash = '#/account/' + encodeURIComponent(address);
  if (location.hash === hash) {
    show();
  } else {
    location.hash = hash;
  }
});

window.addEventListener('hashchange', show);

setInterval(() => {
  if (document.hidden) {
    missed = true;
    return;
  }
  refresh();
}, refreshMs);

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && missed) {
    missed = false;
    refresh();
  }
});

// Whatever escapes the pages is shown rather than lost in the console.
window.addEventListener('unhandledrejection', (ev) => {
  main.prepend(message('error', `Something went wrong: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`));
});

document.body.dataset.app = 'started';
show();
