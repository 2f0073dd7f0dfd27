#!/usr/bin/env node
// The rsqlo-agent command (agent/main.ts) for EC2 agent hosts, bundled on first use (see bin/load.js).
import { load } from './load.js';

const { main } = await load('agent/main.ts');
process.exitCode = await main(process.argv.slice(2));
