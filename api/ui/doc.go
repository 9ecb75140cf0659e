// Package ui is the pool's web dashboard: a page, a few plain ES modules,
// a stylesheet and the vendored uPlot chart library (with its licence),
// all embedded in the binary so that the dashboard works offline and
// loads nothing from another host. The pages read the public JSON API
// described in docs/api.md from the same origin: the pool overview
// (hashrate over 24 h, miners and workers online, shares, the network,
// recent blocks) and an account page (workers, hashrate, balance and
// payments), refreshed every 30 s.
//
// Handler serves it; the API server mounts it at "/". The page is at "/"
// and its assets under "/assets/<version>/", where the version is a hash
// of the embedded files: they are cached for a year, and a new build
// changes the path. The app routes in the URL's fragment ("#/account/<address>"),
// so the server knows one page only and answers 404 to every other path.
package ui
