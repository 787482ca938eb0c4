// The browser page's fixed parts: the HTML shell (the same for every folder; the
// script fills it in), its stylesheet, and the headers every page and asset of ours
// carries: a strict CSP (scripts only from our own origin, no inline script or
// style, no framing), nosniff, no referrer (share tokens live in URLs), no caching.
// Pure data, no I/O.

/** Where the browser front's own routes live: under .well-known, so no user path can shadow them. */
export const WEB_BASE = '/.well-known/davcrypt/web/';

export const PAGE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join('; ');

export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': PAGE_CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
});

/** The page for a folder view (and the sign-in form); `mode` tells the script which view to build. */
export function shellHtml(mode: 'files' | 'share'): string {
  return `<!doctype html>
<html lang="en" data-mode="${mode}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>davcrypt</title>
<link rel="stylesheet" href="${WEB_BASE}app.css">
<script type="module" src="${WEB_BASE}app.js"></script>
</head>
<body>
<header>
<span class="brand">davcrypt</span>
<nav id="crumbs" aria-label="Folder"></nav>
<span id="who"></span>
<button id="signout" type="button" hidden>Sign out</button>
</header>
<main>
<form id="signin" hidden>
<h1>Sign in</h1>
<label>User <input id="signin-user" name="user" autocomplete="username" required></label>
<label>Password <input id="signin-password" name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
<p id="signin-error" role="alert"></p>
</form>
<section id="files" hidden>
<div class="toolbar">
<label class="button">Upload files<input id="upload" type="file" multiple></label>
<button id="mkdir" type="button">New folder</button>
<button id="shares" type="button">My share links</button>
<span id="status" role="status"></span>
</div>
<div id="drop">Drop files here to upload them to this folder</div>
<ul id="progress"></ul>
<table id="listing">
<thead><tr><th data-sort="name">Name</th><th data-sort="size" class="num">Size</th><th data-sort="modified">Modified</th><th>Actions</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section id="share-panel" hidden></section>
<section id="recipient" hidden></section>
</main>
</body>
</html>
`;
}

export const PAGE_CSS = `
[hidden] { display: none !important; }
:root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
body { margin: 0; }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #1d2330; color: #fff; }
header .brand { font-weight: 700; letter-spacing: .02em; }
header nav { flex: 1; }
header nav a, header nav span { color: #cfe0ff; text-decoration: none; }
header nav a:hover { text-decoration: underline; }
header nav .sep { color: #7c879b; margin: 0 .3rem; }
main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
form#signin { max-width: 22rem; margin: 3rem auto; display: grid; gap: .8rem; background: #fff; padding: 1.5rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
form#signin label { display: grid; gap: .2rem; }
input, button, select, .button { font: inherit; }
input { padding: .35rem .5rem; border: 1px solid #b8c0cc; border-radius: 4px; }
button, .button { padding: .35rem .8rem; border: 1px solid #2f5fd0; background: #2f5fd0; color: #fff; border-radius: 4px; cursor: pointer; }
button.link { background: none; border: none; color: #2f5fd0; padding: 0 .3rem; }
.toolbar { display: flex; gap: .6rem; align-items: center; margin-bottom: .6rem; }
.toolbar input[type=file] { display: none; }
#drop { border: 2px dashed #b8c0cc; border-radius: 8px; padding: .8rem; text-align: center; color: #5b6577; margin-bottom: .6rem; }
#drop.over { border-color: #2f5fd0; background: #e8efff; }
#progress { list-style: none; padding: 0; margin: 0 0 .6rem; }
#progress progress { width: 12rem; margin-left: .6rem; }
table { width: 100%; border-collapse: collapse; background: #fff; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e4e7ec; white-space: nowrap; }
td.name { white-space: normal; word-break: break-all; }
th[data-sort] { cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
.num { text-align: right; }
a.folder { font-weight: 600; } a.folder::after { content: "/"; }
a.button.link { background: none; border: none; color: #2f5fd0; padding: 0 .3rem; }
#signin-error, .error { color: #b00020; }
#share-panel, #recipient { background: #fff; padding: 1rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; margin-top: 1rem; }
#share-panel label, #recipient label { margin-right: 1rem; }
code.url { background: #eef1f6; padding: .2rem .4rem; word-break: break-all; }
`;
