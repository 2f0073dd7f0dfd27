#!/usr/bin/env node
// The rsql-compatible runner (rsql/main.ts; see rsql/README.md), bundled on first use (bin/load.js).
import { load } from './load.js';

const { main } = await load('rsql/main.ts');
process.exitCode = await main(process.argv.slice(2));
