#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { buildApp, ContextError } from '../app.js';
import { WorkflowFolderError } from '../workflows.js';

try {
  buildApp(new App());
} catch (err) {
  if (err instanceof ContextError || err instanceof WorkflowFolderError) {
    console.error(`rsqlo: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
