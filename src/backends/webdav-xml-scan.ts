// The multistatus scanner: tokenizes the XML that WebDAV servers actually send for a 207
// (ASCII element and attribute names, namespace prefixes, comments, CDATA, the predefined
// entities and character references, no DTD) with indexOf and sticky regexes instead of a
// per-character state machine, and feeds namespace-resolved events to the multistatus builder.
// It never guesses: anything outside that strict subset, malformed markup included, makes it
// give up and hand back the text from the last response boundary, which the general parser
// (saxes, webdav-xml.ts) then reads exactly as it would have alone. Pure: no I/O.
import { davError } from '../errors.js';

/** Namespace-resolved element events (what webdav-xml.ts's builder consumes). */
export interface MultistatusEvents {
  open(uri: string, local: string): void;
  text(data: string): void;
  /** False while text would be dropped (whitespace between elements then needs no look). */
  readonly collecting: boolean;
  close(): void;
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** Longest stretch kept between two response boundaries before the general parser takes over. */
export const SCANNER_MAX_PENDING = 1024 * 1024;

/** Anything but the Chars of XML 1.0 below U+D800 and U+E000 to U+FFFD (checked first: one class, fast). */
const NOT_BMP_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/;
/** A character XML 1.0 does not allow anywhere, or a lone surrogate. */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\uD800-\uDFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Value of an attribute this subset leaves to saxes: markup, a reference, or a line break to normalize. */
const UNUSUAL_VALUE = /[<&\t\n\r]/;

/** Character classes of ASCII names: 1 may start a name, 2 may continue it (':' is handled apart). */
const NAME_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_]/.test(ch)) NAME_CHAR[c] = 1;
  else if (/[0-9.-]/.test(ch)) NAME_CHAR[c] = 2;
}

/** End of the ASCII QName (prefix optional) starting at `at`, or `at` when there is none. */
function qnameEnd(buf: string, at: number): number {
  let i = at;
  let c = buf.charCodeAt(i);
  if (!(c < 128 && NAME_CHAR[c] === 1)) return at;
  let colon = false;
  for (;;) {
    c = buf.charCodeAt(++i);
    if (c < 128 && NAME_CHAR[c] !== 0) continue;
    if (c !== 0x3a /* : */ || colon) return i;
    if (i + 1 >= buf.length) return i + 1; // "a:" at the end of what arrived: wait for the rest
    const d = buf.charCodeAt(i + 1);
    if (!(d < 128 && NAME_CHAR[d] === 1)) return i; // "a:" then not a name: the caller gives up
    colon = true;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

/** Is buf[from, to) only XML whitespace? */
function onlySpace(buf: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpace(buf.charCodeAt(i))) return false;
  return true;
}
const XML_DECLARATION = /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.0\1(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])[A-Za-z][A-Za-z0-9._-]*\2)?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(?:yes|no)\3)?[ \t\r\n]*\?>/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Is `cp` an XML 1.0 Char? */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Text content with its line ends normalized and references replaced; undefined when not this subset's. */
function decodeText(raw: string): string | undefined {
  if (raw.includes(']]>')) return undefined;
  let s = raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw;
  if (!s.includes('&')) return s;
  let out = '';
  let from = 0;
  for (let amp = s.indexOf('&'); amp !== -1; amp = s.indexOf('&', from)) {
    const semi = s.indexOf(';', amp + 1);
    if (semi === -1) return undefined;
    const ref = s.slice(amp + 1, semi);
    let value: string | undefined;
    if (ref.startsWith('#x') && /^#x[0-9A-Fa-f]{1,6}$/.test(ref)) value = charOf(parseInt(ref.slice(2), 16));
    else if (ref.startsWith('#') && /^#[0-9]{1,7}$/.test(ref)) value = charOf(parseInt(ref.slice(1), 10));
    else if (Object.hasOwn(PREDEFINED, ref)) value = PREDEFINED[ref];
    if (value === undefined) return undefined;
    out += s.slice(from, amp) + value;
    from = semi + 1;
  }
  s = out + s.slice(from);
  return s;
}

function charOf(cp: number): string | undefined {
  return isXmlChar(cp) ? String.fromCodePoint(cp) : undefined;
}

/** Namespace bindings: one link per declaration, innermost first (elements declare few; lookups are short). */
interface Scope {
  prefix: string;
  uri: string;
  parent: Scope | undefined;
}
const ROOT_SCOPE: Scope = { prefix: 'xml', uri: XML_NS, parent: undefined };

/**
 * A start tag read before, below a parent scope: the same characters under the same bindings
 * open the same element, so a repeat (every response of a listing repeats its tags) skips the
 * attribute scan and the name slices.
 */
interface SeenTag {
  /** The whole tag, '<' through '>'. */
  text: string;
  parent: Scope;
  qname: string;
  scope: Scope;
  uri: string;
  local: string;
  selfClosing: boolean;
  depth: number;
  /** The tag opened right after this one last time: tried first (a listing repeats its sequence). */
  next: SeenTag | undefined;
}
/** Tags remembered per depth (a listing's prop elements are six or so) and the longest one remembered. */
const SEEN_PER_DEPTH = 12;
const SEEN_MAX_CHARS = 256;

/** A string that holds its own characters (not a slice of a larger one). */
function flat(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

function lookup(scope: Scope | undefined, prefix: string): string | undefined {
  for (let s = scope; s; s = s.parent) if (s.prefix === prefix) return s.uri;
  return undefined;
}

/**
 * One multistatus document, chunk by chunk. `write` and `end` return undefined while the scanner
 * keeps the document, or, once it gives up, the text the general parser must read next (the
 * document's start through the root's start tag, then everything after the last response the
 * scanner finished). Errors thrown by the events (a root that is not DAV:multistatus) propagate.
 */
export class MultistatusScanner {
  /** Unread text; starts at the last boundary (nothing before it is needed for a replay). */
  private buf = '';
  private pos = 0;
  /** Offset in buf of the last boundary: the end of the root start tag or of a closed child of the root. */
  private boundary = 0;
  /** The document from its start through the root start tag (what a replay starts with). */
  private prefix = '';
  private rootSeen = false;
  private rootClosed = false;
  private atStart = true;
  private readonly names: string[] = [];
  private readonly scopes: Scope[] = [];
  private gaveUp = false;
  /** SeenTag lists by depth (index: open elements around the tag; never the root). */
  private readonly seen: SeenTag[][] = [];
  private seenNext = 0;
  /** The SeenTag of the last element opened, undefined when that one is not remembered. */
  private lastTag: SeenTag | undefined;

  constructor(private readonly events: MultistatusEvents) {}

  write(chunk: string): string | undefined {
    if (this.gaveUp) throw davError('DC_ERR_INTERNAL', 'multistatus scanner used after giving up');
    if (NOT_BMP_XML_CHAR.test(chunk) && NOT_XML_CHAR.test(chunk)) return this.giveUp(chunk);
    this.buf = (this.boundary === 0 ? this.buf : this.buf.slice(this.boundary)) + chunk;
    this.pos -= this.boundary;
    this.boundary = 0;
    if (!this.scan()) return this.giveUp('');
    if (this.buf.length - this.boundary > SCANNER_MAX_PENDING) return this.giveUp('');
    return undefined;
  }

  end(): string | undefined {
    if (this.gaveUp) throw davError('DC_ERR_INTERNAL', 'multistatus scanner used after giving up');
    if (!this.rootClosed || !onlySpace(this.buf, this.pos, this.buf.length)) return this.giveUp('');
    return undefined;
  }

  private giveUp(rest: string): string {
    this.gaveUp = true;
    const replay = this.prefix + this.buf.slice(this.boundary) + rest;
    this.buf = '';
    return replay;
  }

  /** Reads every complete token; false to give up. Leaves pos at the first incomplete one. */
  private scan(): boolean {
    const buf = this.buf;
    const len = buf.length;
    let pos = this.pos;
    while (pos < len) {
      const lt = buf.indexOf('<', pos);
      if (lt === -1) break; // text whose end has not arrived
      if (lt > pos) {
        if (this.names.length === 0) {
          if (!onlySpace(buf, pos, lt)) return false;
        } else if (!this.events.collecting && onlySpace(buf, pos, lt)) {
          // whitespace between elements: nothing to check or keep
        } else {
          const text = decodeText(buf.slice(pos, lt));
          if (text === undefined) return false;
          this.events.text(text);
        }
        pos = lt;
      }
      if (lt + 1 >= len) break;
      const c = buf.charCodeAt(lt + 1);
      let next: number;
      if (c === 0x2f /* / */) next = this.closeTag(buf, lt);
      else if (c === 0x21 /* ! */) next = this.markup(buf, lt);
      else if (c === 0x3f /* ? */) next = this.declaration(buf, lt);
      else next = this.openTag(buf, lt);
      if (next === -1) return false;
      if (next === 0) break; // incomplete: wait for more
      pos = next;
      this.atStart = false;
    }
    this.pos = pos;
    return true;
  }

  /** `</name S?>` closing the open element. Returns the offset after it, 0 to wait, -1 to give up. */
  private closeTag(buf: string, lt: number): number {
    const gt = buf.indexOf('>', lt + 2);
    if (gt === -1) return 0;
    const open = this.names[this.names.length - 1];
    if (open === undefined || !buf.startsWith(open, lt + 2)) return -1;
    if (lt + 2 + open.length !== gt && !onlySpace(buf, lt + 2 + open.length, gt)) return -1;
    this.closeElement(gt + 1);
    return gt + 1;
  }

  private closeElement(after: number): void {
    this.names.pop();
    this.scopes.pop();
    this.events.close();
    if (this.names.length === 1) this.boundary = after;
    else if (this.names.length === 0) this.rootClosed = true;
  }

  /** A comment or CDATA section; anything else (a DTD) gives up. */
  private markup(buf: string, lt: number): number {
    if (buf.startsWith('<!--', lt)) {
      const end = buf.indexOf('-->', lt + 4);
      if (end === -1) return 0;
      // "--" may not occur inside a comment, nor may it end in "-".
      return buf.indexOf('--', lt + 4) === end ? end + 3 : -1;
    }
    if (buf.startsWith('<![CDATA[', lt)) {
      if (this.names.length === 0) return -1;
      const end = buf.indexOf(']]>', lt + 9);
      if (end === -1) return 0;
      const raw = buf.slice(lt + 9, end);
      this.events.text(raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw);
      return end + 3;
    }
    const have = buf.slice(lt, lt + 9);
    return '<!--'.startsWith(have) || '<![CDATA['.startsWith(have) ? 0 : -1;
  }

  /** Only the XML 1.0 declaration at the very start; any processing instruction gives up. */
  private declaration(buf: string, lt: number): number {
    if (!this.atStart || lt !== 0) return -1;
    const end = buf.indexOf('?>', lt + 2);
    if (end === -1) return 0;
    return XML_DECLARATION.test(buf.slice(0, end + 2)) ? end + 2 : -1;
  }

  /** A start tag (or empty-element tag) with its namespace declarations. Returns the offset after it, 0 to wait, -1 to give up. */
  private openTag(buf: string, lt: number): number {
    if (this.rootClosed) return -1;
    const depth = this.names.length;
    const parentScope = this.scopes[depth - 1] ?? ROOT_SCOPE;
    const known = depth === 0 ? undefined : this.seen[depth];
    if (known !== undefined) {
      const guess = this.lastTag?.next;
      let hit: SeenTag | undefined;
      if (guess !== undefined && guess.depth === depth && guess.parent === parentScope && buf.startsWith(guess.text, lt)) hit = guess;
      else {
        for (let k = 0; k < known.length; k++) {
          const t = known[k]!;
          if (t.parent === parentScope && buf.startsWith(t.text, lt)) { hit = t; break; }
        }
      }
      if (hit !== undefined) {
        if (this.lastTag !== undefined) this.lastTag.next = hit;
        this.lastTag = hit;
        const after = lt + hit.text.length;
        this.names.push(hit.qname);
        this.scopes.push(hit.scope);
        this.events.open(hit.uri, hit.local);
        if (hit.selfClosing) this.closeElement(after);
        return after;
      }
    }
    const len = buf.length;
    const nameEnd = qnameEnd(buf, lt + 1);
    if (nameEnd === lt + 1 || nameEnd >= len) return nameEnd >= len ? 0 : -1;
    const qname = buf.slice(lt + 1, nameEnd);
    let scope = parentScope;
    let seen: string[] | undefined;
    let prefixedAttribute: string | undefined;
    let at = nameEnd;
    let selfClosing = false;
    for (;;) {
      // S? then '>' or '/>' ends the tag; S then a name starts an attribute.
      const before = at;
      while (at < len && isSpace(buf.charCodeAt(at))) at++;
      if (at >= len) return 0;
      const c = buf.charCodeAt(at);
      if (c === 0x3e /* > */) { at += 1; break; }
      if (c === 0x2f /* / */) {
        if (at + 1 >= len) return 0;
        if (buf.charCodeAt(at + 1) !== 0x3e) return -1;
        selfClosing = true;
        at += 2;
        break;
      }
      if (at === before) return -1; // attributes must be separated by whitespace
      const attrEnd = qnameEnd(buf, at);
      if (attrEnd === at) return -1;
      const attr = buf.slice(at, attrEnd);
      at = attrEnd;
      while (at < len && isSpace(buf.charCodeAt(at))) at++;
      if (at >= len) return 0;
      if (buf.charCodeAt(at) !== 0x3d /* = */) return -1;
      at += 1;
      while (at < len && isSpace(buf.charCodeAt(at))) at++;
      if (at >= len) return 0;
      const quote = buf.charCodeAt(at);
      if (quote !== 0x22 && quote !== 0x27) return -1;
      const close = buf.indexOf(quote === 0x22 ? '"' : "'", at + 1);
      if (close === -1) return buf.indexOf('>', at) === -1 ? 0 : -1;
      const raw = buf.slice(at + 1, close);
      if (UNUSUAL_VALUE.test(raw)) return -1;
      at = close + 1;
      seen ??= [];
      if (seen.includes(attr)) return -1; // saxes: duplicate attribute
      seen.push(attr);
      if (attr === 'xmlns' || attr.startsWith('xmlns:')) {
        const value = raw.trim(); // as saxes binds it
        const prefix = attr === 'xmlns' ? '' : attr.slice(6);
        if (prefix === 'xml' || prefix === 'xmlns' || value === XML_NS || value === XMLNS_NS) return -1;
        if (prefix !== '' && value === '') return -1;
        scope = { prefix, uri: value, parent: scope };
      } else if (attr.includes(':')) {
        // Attributes are not read, but saxes checks their prefixes; two prefixed ones could collide.
        if (prefixedAttribute !== undefined) return -1;
        prefixedAttribute = attr;
      }
    }
    const colon = qname.indexOf(':');
    let uri: string | undefined;
    let local: string;
    if (colon === -1) {
      uri = lookup(scope, '') ?? '';
      local = qname;
    } else {
      const prefix = qname.slice(0, colon);
      if (prefix === 'xmlns') return -1;
      uri = lookup(scope, prefix);
      local = qname.slice(colon + 1);
    }
    if (uri === undefined) return -1;
    if (prefixedAttribute !== undefined) {
      const prefix = prefixedAttribute.slice(0, prefixedAttribute.indexOf(':'));
      if (prefix === 'xmlns' || lookup(scope, prefix) === undefined) return -1;
    }
    const after = at;
    if (depth === 0) {
      if (this.rootSeen) return -1;
      this.rootSeen = true;
      this.prefix = buf.slice(0, after);
      this.lastTag = undefined;
    } else if (after - lt <= SEEN_MAX_CHARS) {
      const list = this.seen[depth] ??= [];
      // Flattened copies: a slice would keep the whole chunk it came from alive.
      const tag: SeenTag = { text: flat(buf.slice(lt, after)), parent: parentScope, qname: flat(qname), scope, uri, local: flat(local), selfClosing, depth, next: undefined };
      if (list.length < SEEN_PER_DEPTH) list.push(tag);
      else list[this.seenNext++ % SEEN_PER_DEPTH] = tag;
      if (this.lastTag !== undefined) this.lastTag.next = tag;
      this.lastTag = tag;
    } else {
      this.lastTag = undefined;
    }
    this.names.push(qname);
    this.scopes.push(scope);
    this.events.open(uri, local);
    if (this.names.length === 1) this.boundary = after;
    if (selfClosing) this.closeElement(after);
    return after;
  }
}
