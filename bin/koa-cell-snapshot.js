#!/usr/bin/env node
// The koa-cell-snapshot command. From an installed package it runs the compiled CLI (dist/); in a
// clone of the repository, where the TypeScript sources sit beside it, it runs them through tsx (a
// development dependency), so no build step is needed and the code run is always the code read.
import { existsSync } from 'node:fs';

const sources = new URL('../lib/cli.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  cli = await import(new URL('../dist/cli.js', import.meta.url).href);
}
const code = await cli.main(process.argv.slice(2));
if (code !== 0) process.exitCode = code;
