// The WebDAV `If` header (RFC 4918 §10.4) as data: parsing into tagged and untagged
// lists of token / [etag] conditions, and the lock tokens a client submits with it.
// Pure: evaluating the lists against stats and locks is conditions.ts's job.
import { davError } from '../errors.js';
import { parseRequestPath, rawPathOf } from './request-paths.js';

export interface IfCondition {
  not: boolean;
  kind: 'token' | 'etag';
  value: string;
}

export interface IfList {
  /** Decoded URL path of the tagged resource; undefined = the request URI. */
  resource?: string;
  conditions: IfCondition[];
}

/** Parses an `If` header (RFC 4918 §10.4). Throws DC_ERR_BAD_REQUEST when malformed. */
export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = [];
  let i = 0;
  let resource: string | undefined;
  let tagged: boolean | undefined;
  const bad = (why: string) => davError('DC_ERR_BAD_REQUEST', `malformed If header: ${why}`);
  const skipWs = () => { while (i < header.length && /\s/.test(header[i]!)) i++; };
  const readUntil = (end: string) => {
    const stop = header.indexOf(end, i);
    if (stop < 0) throw bad(`missing ${end}`);
    const text = header.slice(i, stop);
    i = stop + 1;
    return text;
  };
  for (;;) {
    skipWs();
    if (i >= header.length) break;
    const c = header[i];
    if (c === '<') {
      if (tagged === false) throw bad('tag after untagged list');
      tagged = true;
      i++;
      const url = readUntil('>');
      let path = url;
      try {
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) path = rawPathOf(url);
        resource = parseRequestPath(path).path;
      } catch {
        resource = '\0invalid';
      }
      skipWs();
      if (header[i] !== '(') throw bad('tag without list');
    } else if (c === '(') {
      if (tagged === undefined) tagged = false;
      i++;
      const conditions: IfCondition[] = [];
      for (;;) {
        skipWs();
        if (header[i] === ')') { i++; break; }
        if (i >= header.length) throw bad('unterminated list');
        let not = false;
        if (header.slice(i, i + 3).toLowerCase() === 'not') { not = true; i += 3; skipWs(); }
        if (header[i] === '<') { i++; conditions.push({ not, kind: 'token', value: readUntil('>').trim() }); }
        else if (header[i] === '[') { i++; conditions.push({ not, kind: 'etag', value: readUntil(']').trim() }); }
        else throw bad('unexpected character');
      }
      if (conditions.length === 0) throw bad('empty list');
      lists.push({ resource: tagged ? resource : undefined, conditions });
    } else {
      throw bad('unexpected character');
    }
  }
  if (lists.length === 0) throw bad('no lists');
  return lists;
}

/** Tokens named (without Not) anywhere in the If header: the tokens the client submits. */
export function submittedTokens(lists: IfList[]): Set<string> {
  const out = new Set<string>();
  for (const l of lists) for (const c of l.conditions) if (c.kind === 'token' && !c.not) out.add(c.value);
  return out;
}
