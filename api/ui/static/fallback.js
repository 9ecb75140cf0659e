// fallback.js is a classic script, so that it runs even where the app's
// modules do not load (an old browser, a file missing from a build, a
// proxy that mangles them): when the app has not started after a while it
// says so instead of leaving "Loading" on the page for ever.
(function () {
  'use strict';
  var waitMs = 10000;
  setTimeout(function () {
    if (document.body.getAttribute('data-app')) {
      return;
    }
    var loading = document.getElementById('loading');
    if (!loading) {
      return;
    }
    loading.className = 'message error';
    loading.setAttribute('data-error', '');
    loading.textContent = 'The dashboard\'s scripts did not start. Reload the page; if this ' +
      'stays, this browser may not run JavaScript modules. The pool\'s figures are also in ' +
      'its JSON API at /api/v1/pool.';
  }, waitMs);
})();
