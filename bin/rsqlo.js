#!/usr/bin/env node
// The rsqlo command (cli/main.ts), bundled on first use for a fast start (see bin/load.js).
import { load } from './load.js';

const { main } = await load('cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
