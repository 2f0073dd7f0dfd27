/**
 * The entry of the agent's one-file bundle (infra/agent-bundle.ts builds it with esbuild; the
 * stack publishes it as an asset and its SSM association installs it as
 * /opt/rsqlo/bin/rsqlo-agent.mjs). One file must also be the job host process (host/spawner.ts),
 * which the daemon starts as a separate Node process: the bundle's loader (bin/load.js, replaced
 * at bundle time) asks for `node <this file> --rsqlo-entry host/spawner.ts`, and this entry runs
 * the spawner then instead of the command. Every module is evaluated lazily (dynamic imports), so
 * the spawner's top-level code never runs inside the daemon, nor the daemon's inside the spawner.
 */
export const ENTRY_FLAG = '--rsqlo-entry';

const [first, second] = process.argv.slice(2);
if (first === ENTRY_FLAG) {
  if (second !== 'host/spawner.ts') {
    process.stderr.write(`rsqlo-agent: unknown entry ${JSON.stringify(second)}\n`);
    process.exit(2);
  }
  await import('../host/spawner.js');
} else {
  const { main } = await import('./main.js');
  process.exitCode = await main(process.argv.slice(2));
}
