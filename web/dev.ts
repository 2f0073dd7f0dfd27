/**
 * A temporary way to look at the run view before `rsqlo serve` exists (serve replaces it):
 *
 *   npx tsx web/dev.ts --home .rsqlo [--port 8686] [--host 127.0.0.1] [--no-database]
 *
 * It serves the view of an engine home read-only; runs are started as usual with `rsqlo run` in
 * another terminal. Restart and kill run the `rsqlo` command in a child process.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLocalLogSource } from '../runtime/local/log-source.js';
import { createLocalRunViewSource } from '../runtime/local/run-view-source.js';
import { cliActions } from './dev-actions.js';
import { createRunViewServer } from './server.js';

const { values } = parseArgs({
  options: {
    home: { type: 'string' },
    port: { type: 'string', default: '8686' },
    host: { type: 'string', default: '127.0.0.1' },
    'no-database': { type: 'boolean' },
    'database-url': { type: 'string' },
  },
  strict: true,
});
const home = path.resolve(values.home ?? process.env.RSQLO_HOME ?? '.rsqlo');
const source = createLocalRunViewSource({ home });
const logs = createLocalLogSource({ locate: (ref) => source.attemptLog(ref) });
const restartArgs = values['no-database']
  ? ['--no-database']
  : values['database-url']
    ? ['--database-url', values['database-url']]
    : [];
const view = createRunViewServer({ source, logs, actions: cliActions({ home, source, restartArgs }) });
const url = await view.listen(Number(values.port), values.host);
process.stdout.write(`rsqlo run view of ${home}: ${url}/  (Ctrl-C stops)\n`);
const stop = () => {
  void view.close().then(() => {
    source.close();
    process.exit(0);
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
