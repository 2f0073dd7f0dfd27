#!/usr/bin/env node
// The rsql-compatible runner (see rsql/README.md).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../rsql/main.ts');
process.exitCode = await main(process.argv.slice(2));
