#!/usr/bin/env node
// The same runner as bin/rsql.cjs (the `rsql` command), kept for callers that name this file.
import './rsql.cjs';
