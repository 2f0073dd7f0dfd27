// Loaded with `node --require` by test/support/processes.ts: at exit, writes this process's peak
// resident set size in bytes to $RSQLO_TEST_MAX_RSS_FILE (the test compares it to a file's size).
const { writeFileSync } = require('node:fs');

process.on('exit', () => {
  const file = process.env.RSQLO_TEST_MAX_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
