// Small HTTP helpers of the browser front: a bounded body read and a JSON answer
// carrying the page headers. No routing, no state.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { davError } from '../errors.js';
import { PAGE_HEADERS } from './page.js';

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}

/** Reads a request body of at most `max` bytes as UTF-8; DC_ERR_PAYLOAD_TOO_LARGE beyond. */
export async function readSmallBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw davError('DC_ERR_PAYLOAD_TOO_LARGE', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
