// The browser page's script (compiled by `npm run build` to dist/web/browser/app.js,
// loaded as a module: the page's CSP allows no inline script). It speaks WebDAV to
// the gateway with the session cookie and sends the CSRF token on every request
// that is not GET/HEAD. Names only ever reach the page as text (textContent, never
// innerHTML), so a file name cannot become markup. No framework, no imports.
import { $, CSRF_HEADER, el, encodePath, humanSize, parseListing, PROPFIND_BODY, uploadFile, WEB_BASE, type Entry } from './dom.js';
import { openSharePanel, showMyShares, startRecipient } from './share.js';

type SortKey = 'name' | 'size' | 'modified';

const state = { csrf: '', user: '', path: '/', entries: [] as Entry[], sort: 'name' as SortKey, descending: false };

function status(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

async function dav(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
  const res = await fetch(encodePath(path), { method, credentials: 'same-origin', headers: { [CSRF_HEADER]: state.csrf, ...init.headers }, body: init.body });
  if (res.status === 401) { showSignIn(); throw new Error('signed out'); }
  return res;
}

async function check(res: Response, what: string): Promise<void> {
  if (res.ok) return;
  const text = (await res.text()).split('\n')[0];
  throw new Error(`${what}: ${res.status} ${text}`);
}

// --- sign-in ---

function showSignIn(): void {
  $('files').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  $('crumbs').textContent = '';
  $('signin').hidden = false;
  ($('signin-user') as HTMLInputElement).focus();
}

async function signIn(event: Event): Promise<void> {
  event.preventDefault();
  const user = ($('signin-user') as HTMLInputElement).value;
  const password = ($('signin-password') as HTMLInputElement).value;
  const res = await fetch(WEB_BASE + 'login', { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user, password }) });
  if (!res.ok) {
    const retry = res.headers.get('Retry-After');
    $('signin-error').textContent = res.status === 429 ? `Too many attempts; try again in ${retry ?? 'a few'} seconds.` : res.status === 401 ? 'Wrong user name or password.' : `Sign-in failed (${res.status}).`;
    return;
  }
  ($('signin-password') as HTMLInputElement).value = '';
  const body = await res.json() as { user: string; csrf: string };
  Object.assign(state, { user: body.user, csrf: body.csrf });
  await showFiles();
}

async function signOut(): Promise<void> {
  await fetch(WEB_BASE + 'logout', { method: 'POST', credentials: 'same-origin', headers: { [CSRF_HEADER]: state.csrf } });
  state.csrf = '';
  ($('signin-error')).textContent = 'Signed out.';
  showSignIn();
}

// --- folder view ---

async function showFiles(): Promise<void> {
  $('signin').hidden = true;
  $('files').hidden = false;
  $('signout').hidden = false;
  $('who').textContent = state.user;
  state.path = decodeURIComponent(location.pathname);
  renderCrumbs();
  await refresh();
}

function renderCrumbs(): void {
  const nav = $('crumbs');
  nav.textContent = '';
  const parts = state.path.split('/').filter((p) => p !== '');
  const home = el('a', 'Home');
  home.href = '/';
  nav.append(home);
  let acc = '/';
  for (const part of parts) {
    acc += part + '/';
    nav.append(el('span', '/', 'sep'));
    const a = el('a', part);
    a.href = encodePath(acc);
    nav.append(a);
  }
}

async function refresh(): Promise<void> {
  const res = await dav('PROPFIND', state.path, { headers: { Depth: '1', 'Content-Type': 'application/xml; charset=utf-8' }, body: PROPFIND_BODY });
  await check(res, 'listing');
  const started = performance.now();
  state.entries = parseListing(await res.text(), state.path);
  renderListing();
  document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
}

function compare(a: Entry, b: Entry): number {
  if (a.folder !== b.folder) return a.folder ? -1 : 1;
  const d = state.sort === 'name' ? a.name.localeCompare(b.name) : state.sort === 'size' ? a.size - b.size : a.modified - b.modified;
  return state.descending ? -d : d;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function renderListing(): void {
  const tbody = $('listing').querySelector('tbody')!;
  const rows = document.createDocumentFragment();
  for (const entry of [...state.entries].sort(compare)) {
    const tr = el('tr');
    tr.dataset.name = entry.name;
    const nameCell = el('td', undefined, 'name');
    const link = el('a', entry.name, entry.folder ? 'folder' : 'file');
    link.href = encodePath(state.path + entry.name + (entry.folder ? '/' : ''));
    nameCell.append(link);
    tr.append(nameCell, el('td', entry.folder ? '' : humanSize(entry.size), 'num size'), el('td', entry.modified ? dateFormat.format(entry.modified) : ''));
    const actions = el('td', undefined, 'actions');
    if (!entry.folder) {
      const download = el('a', 'Download', 'button link');
      download.href = link.href;
      download.download = entry.name;
      actions.append(download);
    }
    actions.append(action('Rename', () => rename(entry)), action('Move', () => move(entry)), action('Share', () => openShare(entry)), action('Delete', () => remove(entry)));
    tr.append(actions);
    rows.append(tr);
  }
  tbody.replaceChildren(rows);
  for (const th of Array.from($('listing').querySelectorAll('th[data-sort]')) as HTMLElement[]) {
    th.className = th.dataset.sort === state.sort ? (state.descending ? 'sorted-desc' : 'sorted-asc') : '';
  }
}

function action(label: string, run: () => Promise<void>): HTMLButtonElement {
  const b = el('button', label, 'link');
  b.type = 'button';
  b.dataset.action = label.toLowerCase();
  b.addEventListener('click', () => { run().catch((err: Error) => status(err.message, true)); });
  return b;
}

function targetUrl(path: string, folder: boolean): string {
  return location.origin + encodePath(path) + (folder ? '/' : '');
}

async function moveTo(entry: Entry, destination: string): Promise<void> {
  const res = await dav('MOVE', state.path + entry.name + (entry.folder ? '/' : ''), { headers: { Destination: targetUrl(destination, entry.folder), Overwrite: 'F' } });
  await check(res, `move ${entry.name}`);
  await refresh();
}

async function rename(entry: Entry): Promise<void> {
  const name = prompt(`New name for ${entry.name}`, entry.name);
  if (!name || name === entry.name) return;
  if (name.includes('/')) throw new Error('a name cannot contain /');
  await moveTo(entry, state.path + name);
  status(`Renamed to ${name}`);
}

async function move(entry: Entry): Promise<void> {
  let folder = prompt(`Move ${entry.name} to folder`, state.path);
  if (!folder) return;
  if (!folder.startsWith('/')) folder = '/' + folder;
  if (!folder.endsWith('/')) folder += '/';
  await moveTo(entry, folder + entry.name);
  status(`Moved ${entry.name} to ${folder}`);
}

async function remove(entry: Entry): Promise<void> {
  if (!confirm(`Delete ${entry.name}${entry.folder ? ' and everything in it' : ''}?`)) return;
  const res = await dav('DELETE', state.path + entry.name + (entry.folder ? '/' : ''));
  await check(res, `delete ${entry.name}`);
  status(`Deleted ${entry.name}`);
  await refresh();
}

async function makeFolder(): Promise<void> {
  const name = prompt('Name of the new folder');
  if (!name) return;
  if (name.includes('/')) throw new Error('a name cannot contain /');
  const res = await dav('MKCOL', state.path + name + '/');
  await check(res, `new folder ${name}`);
  await refresh();
}

function uploadOne(file: File, folder: string): Promise<void> {
  return uploadFile(file, encodePath(folder + file.name), { [CSRF_HEADER]: state.csrf }, $('progress'));
}

async function uploadAll(files: FileList | File[]): Promise<void> {
  const list = Array.from(files);
  if (list.length === 0) return;
  const folder = state.path;
  status(`Uploading ${list.length} file(s)…`);
  for (const file of list) await uploadOne(file, folder); // one at a time: the gateway streams each
  status(`Uploaded ${list.length} file(s)`);
  await refresh();
}

// --- share links (share.ts) ---

async function openShare(entry: Entry): Promise<void> {
  await openSharePanel(state.path + entry.name, entry.folder, state.csrf);
}

// --- wiring ---

function wire(): void {
  $('signin').addEventListener('submit', (e) => { signIn(e).catch((err: Error) => { $('signin-error').textContent = err.message; }); });
  $('signout').addEventListener('click', () => { signOut().catch((err: Error) => status(err.message, true)); });
  $('shares').addEventListener('click', () => { showMyShares(state.csrf).catch((err: Error) => status(err.message, true)); });
  $('mkdir').addEventListener('click', () => { makeFolder().catch((err: Error) => status(err.message, true)); });
  const input = $('upload') as HTMLInputElement;
  input.addEventListener('change', () => { uploadAll(input.files ?? []).catch((err: Error) => status(err.message, true)).finally(() => { input.value = ''; }); });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    uploadAll(e.dataTransfer?.files ?? []).catch((err: Error) => status(err.message, true));
  });
  for (const th of Array.from(document.querySelectorAll('th[data-sort]')) as HTMLElement[]) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort as SortKey;
      state.descending = state.sort === key ? !state.descending : false;
      state.sort = key;
      renderListing();
    });
  }
}

async function start(): Promise<void> {
  if (document.documentElement.dataset.mode === 'share') return startRecipient();
  wire();
  const res = await fetch(WEB_BASE + 'session', { credentials: 'same-origin' });
  if (!res.ok) return showSignIn();
  Object.assign(state, await res.json() as { user: string; csrf: string });
  await showFiles();
}

start().catch((err: Error) => status(err.message, true));
