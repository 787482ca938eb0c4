// Small helpers shared by the page's modules. Text only ever enters the page through
// textContent or element properties, never as markup. No I/O besides the DOM.

export const WEB_BASE = '/.well-known/davcrypt/web/';
export const CSRF_HEADER = 'X-Davcrypt-Csrf';

export function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

/** Percent-encodes each segment of a path (a name may hold '#', '?', '%' or spaces). */
export function encodePath(path: string): string {
  return path.split('/').map((s) => encodeURIComponent(s)).join('/');
}

export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export interface Entry { name: string; folder: boolean; size: number; modified: number }

/** The entries of a Depth: 1 PROPFIND answer, without the folder itself. */
export function parseListing(xml: string, folder: string): Entry[] {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const out: Entry[] = [];
  const self = folder.endsWith('/') ? folder : folder + '/';
  for (const response of Array.from(doc.getElementsByTagNameNS('DAV:', 'response'))) {
    const href = response.getElementsByTagNameNS('DAV:', 'href')[0]?.textContent ?? '';
    const path = decodeURIComponent(new URL(href, location.origin).pathname);
    const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
    if (trimmed + '/' === self || trimmed === '') continue;
    const name = trimmed.slice(trimmed.lastIndexOf('/') + 1);
    const folderType = response.getElementsByTagNameNS('DAV:', 'collection').length > 0;
    const size = Number(response.getElementsByTagNameNS('DAV:', 'getcontentlength')[0]?.textContent ?? '0');
    const modified = Date.parse(response.getElementsByTagNameNS('DAV:', 'getlastmodified')[0]?.textContent ?? '');
    out.push({ name, folder: folderType, size: Number.isFinite(size) ? size : 0, modified: Number.isFinite(modified) ? modified : 0 });
  }
  return out;
}

export const PROPFIND_BODY = '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/><getlastmodified/></prop></propfind>';

/** Uploads one file as a streamed PUT (the browser sends the File from disk), showing progress in `list`. */
export function uploadFile(file: File, url: string, headers: Record<string, string>, list: HTMLElement): Promise<void> {
  const item = el('li', file.name);
  const bar = el('progress');
  bar.max = file.size || 1;
  item.append(bar);
  list.append(item);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => { bar.value = e.loaded; });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) { item.remove(); resolve(); } else reject(new Error(`upload ${file.name}: ${xhr.status}`));
    });
    xhr.addEventListener('error', () => reject(new Error(`upload ${file.name}: network error`)));
    xhr.send(file);
  });
}
