// XML in and out for the WebDAV front: read a capped request body, parse it
// namespace-aware with @xmldom/xmldom (malformed → DC_ERR_BAD_REQUEST), and the
// small helpers to escape text and name properties. No I/O besides the request body.
import type { IncomingMessage } from 'node:http';
import { DOMParser, XMLSerializer, type Document, type Element, type Node } from '@xmldom/xmldom';
import { davError } from '../errors.js';

export const DAV_NS = 'DAV:';

/**
 * Reads a whole non-PUT request body up to `maxBytes`.
 * Throws DC_ERR_PAYLOAD_TOO_LARGE when Content-Length or the received bytes exceed it.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw davError('DC_ERR_PAYLOAD_TOO_LARGE', `request body larger than ${maxBytes} bytes`);
  }
  if (declared === '0' || (declared === undefined && !req.headers['transfer-encoding'])) return Buffer.alloc(0);
  // Listeners rather than for-await: leaving a for-await early would destroy the request mid-body.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        req.pause();
        reject(davError('DC_ERR_PAYLOAD_TOO_LARGE', `request body larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.concat(chunks)); };
    const onError = (err: Error) => { cleanup(); reject(davError('DC_ERR_ABORTED', 'request body failed', { cause: err })); };
    const onAborted = () => { cleanup(); reject(davError('DC_ERR_ABORTED', 'client went away')); };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** Deepest element nesting a request body may have (WebDAV bodies need < 10; dead props a few more). */
export const MAX_XML_DEPTH = 100;

/**
 * Cheap linear pre-scan before the DOM parser: refuses any DTD (no entity expansion,
 * no external entities: billion laughs and XXE stop here) and nesting deeper than
 * MAX_XML_DEPTH (the DOM parser is slow on deep trees). Throws DC_ERR_BAD_REQUEST.
 */
export function checkXmlShape(text: string): void {
  let depth = 0;
  let i = text.indexOf('<');
  while (i >= 0 && i < text.length) {
    const next = text[i + 1];
    let end: number;
    if (next === '?') {
      end = text.indexOf('?>', i + 2);
      end = end < 0 ? -1 : end + 1;
    } else if (text.startsWith('<!--', i)) {
      end = text.indexOf('-->', i + 4);
      end = end < 0 ? -1 : end + 2;
    } else if (text.startsWith('<![CDATA[', i)) {
      end = text.indexOf(']]>', i + 9);
      end = end < 0 ? -1 : end + 2;
    } else if (next === '!') {
      throw davError('DC_ERR_BAD_REQUEST', 'XML bodies must not contain a DTD or entity declarations');
    } else {
      // Element tag: find its '>' outside quoted attribute values.
      let quote: string | undefined;
      end = -1;
      for (let j = i + 1; j < text.length; j++) {
        const c = text[j];
        if (quote) { if (c === quote) quote = undefined; }
        else if (c === '"' || c === "'") quote = c;
        else if (c === '>') { end = j; break; }
      }
      if (end > 0) {
        if (next === '/') depth--;
        else if (text[end - 1] !== '/') depth++;
        if (depth > MAX_XML_DEPTH) throw davError('DC_ERR_BAD_REQUEST', `XML nested deeper than ${MAX_XML_DEPTH} levels`);
      }
    }
    if (end < 0) return; // unterminated: the DOM parser reports it
    i = text.indexOf('<', end + 1);
  }
}

/** Parses an XML body; throws DC_ERR_BAD_REQUEST for anything not well-formed or namespace-invalid. */
export function parseXml(body: Buffer): Document {
  const text = body.toString('utf8');
  checkXmlShape(text);
  // An empty namespace on a prefix (xmlns:x="") is illegal in Namespaces 1.0.
  if (/xmlns:[A-Za-z_][\w.-]*\s*=\s*(""|'')/.test(text)) throw davError('DC_ERR_BAD_REQUEST', 'invalid namespace declaration');
  const parser = new DOMParser({
    onError: (level: string, message: string) => {
      if (level !== 'warning') throw davError('DC_ERR_BAD_REQUEST', `malformed XML: ${message.slice(0, 120)}`);
    },
  });
  let doc: Document;
  try {
    doc = parser.parseFromString(text, 'application/xml');
  } catch (err) {
    throw davError('DC_ERR_BAD_REQUEST', 'malformed XML body', { cause: err });
  }
  if (!doc.documentElement) throw davError('DC_ERR_BAD_REQUEST', 'XML body has no root element');
  return doc;
}

/** Element children of a node (text and comments skipped). */
export function childElements(node: Node): Element[] {
  const out: Element[] = [];
  for (let n = node.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as Element);
  return out;
}

/** True when the element is `{ns}local`. */
export function isElement(el: Element, ns: string, local: string): boolean {
  return (el.namespaceURI ?? '') === ns && el.localName === local;
}

/** Serializes a node (with the namespace declarations it needs). */
export function serializeNode(node: Node): string {
  return new XMLSerializer().serializeToString(node);
}

/** Escapes text for element content and attribute values. */
const XML_SPECIAL = /[&<>"']/;
const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  // Most names and values have nothing to escape: no new string, no callback per match.
  if (!XML_SPECIAL.test(text)) return text;
  return text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]!);
}

/** A property name: namespace URI ('' for none) and local name. */
export interface PropName {
  ns: string;
  name: string;
}

/** Stable key for a property name: `{ns}name`. */
export function propKey(p: PropName): string {
  return `{${p.ns}}${p.name}`;
}

/**
 * Writes an element for a property with its namespace declared on it: `D:` for DAV:,
 * `xmlns=""` for no namespace, a local prefix otherwise (never a literal URI as the name).
 */
export function propElement(p: PropName, inner: string | undefined): string {
  let open: string;
  let close: string;
  if (p.ns === DAV_NS) {
    open = `D:${p.name}`;
    close = open;
  } else if (p.ns === '') {
    open = `${p.name} xmlns=""`;
    close = p.name;
  } else {
    open = `X:${p.name} xmlns:X="${escapeXml(p.ns)}"`;
    close = `X:${p.name}`;
  }
  return inner === undefined || inner === '' ? `<${open}/>` : `<${open}>${inner}</${close}>`;
}

export const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n';
