// Public surface of crypto/: the file format, streaming cipher, size and range
// arithmetic, key wraps, password envelopes and keyrings. Other folders import
// only this file. Nothing in crypto/ does I/O.
export * from './format.js';
export * from './ranges.js';
export * from './segment.js';
export * from './segment-reader.js';
export * from './random.js';
export * from './stream.js';
export * from './range-read.js';
export * from './x25519.js';
export * from './wrap.js';
export * from './envelope.js';
export * from './keyring.js';
export * from './keyring-tag.js';
export type * from './mount-key.js';
