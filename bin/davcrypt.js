#!/usr/bin/env node
// Entry point installed as `davcrypt`: runs the TypeScript CLI through tsx,
// so a fresh `npm ci` is enough (no separate build step).
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
