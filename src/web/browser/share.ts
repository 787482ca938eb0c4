// Share links in the page: the owner's panel (create a link with scope, expiry,
// password and download limit; list and revoke her links) and the recipient's view
// of a link (password, then download or, for a file drop, upload). The link's token
// is only ever in the URL; a password goes in a Basic header (WebDAV requests) or a
// POST form (downloads), never in a URL.
import { $, CSRF_HEADER, el, encodePath, humanSize, parseListing, PROPFIND_BODY, uploadFile, WEB_BASE } from './dom.js';

interface ShareSummary { id: string; path: string; folder: boolean; scope: string; expires: number; downloads: number; maxDownloads?: number; password: boolean }

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function field(label: string, input: HTMLElement): HTMLLabelElement {
  const l = el('label', label + ' ');
  l.append(input);
  return l;
}

function input(type: string, id: string, value = ''): HTMLInputElement {
  const i = el('input');
  i.type = type;
  i.id = id;
  i.value = value;
  return i;
}

/** The owner's form to share the file or folder at `path`. */
export async function openSharePanel(path: string, folder: boolean, csrf: string): Promise<void> {
  const panel = $('share-panel');
  panel.hidden = false;
  panel.replaceChildren(el('h2', `Share ${path}`));
  const scope = el('select');
  scope.id = 'share-scope';
  for (const [value, text] of [['read', 'Read (download)'], ...(folder ? [['drop', 'File drop (upload only)'], ['readwrite', 'Read and write']] : [])]) {
    const o = el('option', text);
    o.value = value!;
    scope.append(o);
  }
  const days = input('number', 'share-days', '7');
  days.min = '1';
  days.required = true;
  const password = input('password', 'share-password');
  password.autocomplete = 'new-password';
  const limit = input('number', 'share-limit');
  limit.min = '1';
  const form = el('form');
  form.id = 'share-form';
  const submit = el('button', 'Create link');
  submit.type = 'submit';
  form.append(field('Scope', scope), field('Expires in days', days), field('Password (optional)', password), field('Download limit (optional)', limit), submit);
  const result = el('p');
  result.id = 'share-result';
  panel.append(form, result);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    (async () => {
      const res = await fetch(WEB_BASE + 'shares', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', [CSRF_HEADER]: csrf },
        body: JSON.stringify({ path, scope: scope.value, expiresInDays: days.value, password: password.value, maxDownloads: limit.value }),
      });
      if (!res.ok) throw new Error(`could not create the link: ${res.status} ${(await res.text()).split('\n')[0]}`);
      const link = await res.json() as { path: string; expires: number };
      password.value = '';
      const url = el('code', location.origin + link.path, 'url');
      url.id = 'share-url';
      result.replaceChildren('Link (shown once; anyone with it can use it until ', dateFormat.format(link.expires), '): ', url);
      await showMyShares(csrf, false);
    })().catch((err: Error) => { result.textContent = err.message; result.className = 'error'; });
  });
}

/** The owner's links with a revoke button each. */
export async function showMyShares(csrf: string, clear = true): Promise<void> {
  const panel = $('share-panel');
  panel.hidden = false;
  if (clear) panel.replaceChildren();
  document.getElementById('my-shares')?.remove();
  const res = await fetch(WEB_BASE + 'shares', { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`could not list links: ${res.status}`);
  const links = await res.json() as ShareSummary[];
  const box = el('div');
  box.id = 'my-shares';
  box.append(el('h2', 'My share links'));
  if (links.length === 0) box.append(el('p', 'No links.'));
  const table = el('table');
  for (const link of links) {
    const tr = el('tr');
    tr.dataset.id = link.id;
    const revoke = el('button', 'Revoke', 'link');
    revoke.type = 'button';
    revoke.dataset.action = 'revoke';
    revoke.addEventListener('click', () => {
      (async () => {
        const r = await fetch(WEB_BASE + 'shares/' + encodeURIComponent(link.id), { method: 'DELETE', credentials: 'same-origin', headers: { [CSRF_HEADER]: csrf } });
        if (!r.ok) throw new Error(`revoke failed: ${r.status}`);
        tr.remove();
      })().catch((err: Error) => { revoke.textContent = err.message; });
    });
    const uses = `${link.downloads}${link.maxDownloads ? ' / ' + link.maxDownloads : ''} downloads`;
    tr.append(el('td', link.path, 'name'), el('td', link.scope), el('td', 'until ' + dateFormat.format(link.expires)), el('td', uses), el('td', link.password ? 'password' : ''), el('td'));
    tr.lastElementChild!.append(revoke);
    table.append(tr);
  }
  if (links.length) box.append(table);
  panel.append(box);
}

// --- the recipient's view ---

interface LinkInfo { folder: boolean; scope: 'read' | 'drop' | 'readwrite'; password: boolean; expires: number; name?: string }

export async function startRecipient(): Promise<void> {
  const view = $('recipient');
  view.hidden = false;
  const linkPath = location.pathname.replace(/\/+$/, '');
  const token = linkPath.slice(linkPath.lastIndexOf('/') + 1);
  const res = await fetch(WEB_BASE + 'link/' + encodeURIComponent(token));
  if (!res.ok) {
    view.replaceChildren(el('h1', 'Link not available'), el('p', 'This link does not exist, has expired or was revoked.'));
    return;
  }
  const info = await res.json() as LinkInfo;
  view.replaceChildren(el('h1', info.scope === 'drop' ? 'Upload files' : info.folder ? 'Shared folder' : 'Shared file'), el('p', 'Available until ' + dateFormat.format(info.expires)));
  if (!info.password) return showLink(linkPath, info, undefined);
  const form = el('form');
  form.id = 'link-password-form';
  const pw = input('password', 'link-password');
  const submit = el('button', 'Open');
  submit.type = 'submit';
  const error = el('p', '', 'error');
  form.append(field('Password', pw), submit, error);
  view.append(form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    (async () => {
      const check = await fetch(linkPath + '/', { method: 'PROPFIND', headers: { Depth: '0', Authorization: basic(pw.value), 'X-Davcrypt-Page': '1' } });
      if (check.status === 401) { error.textContent = 'Wrong password.'; return; }
      if (check.status === 429) { error.textContent = 'Too many attempts; try again later.'; return; }
      form.remove();
      await showLink(linkPath, info, pw.value);
    })().catch((err: Error) => { error.textContent = err.message; });
  });
}

function basic(password: string): string {
  const bytes = new TextEncoder().encode('link:' + password);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}

async function showLink(linkPath: string, info: LinkInfo, password: string | undefined): Promise<void> {
  const view = $('recipient');
  const auth: Record<string, string> = { 'X-Davcrypt-Page': '1', ...(password === undefined ? {} : { Authorization: basic(password) }) };
  if (info.scope === 'drop' || info.scope === 'readwrite') {
    const upload = input('file', 'link-upload');
    upload.multiple = true;
    const progress = el('ul');
    const done = el('p', '', 'done');
    done.id = 'link-upload-done';
    upload.addEventListener('change', () => {
      (async () => {
        for (const file of Array.from(upload.files ?? [])) await uploadFile(file, linkPath + '/' + encodeURIComponent(file.name), auth, progress);
        done.textContent = `Uploaded ${upload.files?.length ?? 0} file(s).`;
        upload.value = '';
        if (info.scope === 'readwrite') await showLink(linkPath, info, password);
      })().catch((err: Error) => { done.textContent = err.message; done.className = 'error'; });
    });
    view.append(field('Upload files', upload), progress, done);
    if (info.scope === 'drop') return;
  }
  const res = await fetch(linkPath + '/', { method: 'PROPFIND', headers: { Depth: '1', 'Content-Type': 'application/xml; charset=utf-8', ...auth }, body: PROPFIND_BODY });
  if (!res.ok) throw new Error(`listing failed: ${res.status}`);
  const entries = parseListing(await res.text(), linkPath + '/').filter((e) => !e.folder).sort((a, b) => a.name.localeCompare(b.name));
  document.getElementById('link-files')?.remove();
  const table = el('table');
  table.id = 'link-files';
  for (const entry of entries) {
    const tr = el('tr');
    tr.dataset.name = entry.name;
    const href = linkPath + '/' + encodePath(entry.name);
    const cell = el('td');
    if (password === undefined) {
      const a = el('a', 'Download', 'button');
      a.href = href;
      a.download = entry.name;
      cell.append(a);
    } else {
      // A form POST carries the password in the body: the download streams like any other.
      const form = el('form');
      form.method = 'post';
      form.action = href;
      const hidden = input('hidden', '');
      hidden.name = 'password';
      hidden.value = password;
      hidden.removeAttribute('id');
      const button = el('button', 'Download');
      button.type = 'submit';
      form.append(hidden, button);
      cell.append(form);
    }
    tr.append(el('td', entry.name, 'name'), el('td', humanSize(entry.size), 'num size'), cell);
    table.append(tr);
  }
  view.append(table);
}
