import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowId } from '../contracts/common.js';

/** The workflow_id `rsqlo init` gives a folder: its name, made safe (letters, digits, _ and -). */
export function workflowIdFor(dir: string): string {
  const base = path
    .basename(path.resolve(dir))
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return base || 'my_workflow';
}

/**
 * The files of a new workflow folder: a definition with two stages, an RSQL heredoc wrapper in the
 * AWS sample's style (connection from HOST/USER/DB, `\if :ERROR <> 0` after each statement, an
 * `\exit` code per failure) and a `.sql` script run with `rsql -f`, all working against the
 * embedded PostgreSQL (or any database `--database-url` names) as they are.
 */
export function scaffold(workflowId: string): Record<string, { text: string; mode?: number }> {
  const schema = workflowId.toLowerCase().replace(/-/g, '_');
  return {
    'workflow.json': {
      text: `${JSON.stringify(
        {
          workflow_id: workflowId,
          workflow_description: `${workflowId}: created by rsqlo init`,
          workflow_stages: [
            {
              execution_flag: 'y',
              execution_type: 'sequential',
              stage_description: 'Create and load',
              scripts: ['load_example.sh'],
            },
            {
              execution_flag: 'y',
              execution_type: 'parallel',
              stage_description: 'Report',
              scripts: [{ script: 'report_example.sql', timeout_seconds: 600 }],
            },
          ],
          defaults: { timeout_seconds: 3600, retries: 0 },
          parameters: { LOAD_LABEL: 'example' },
        },
        null,
        2,
      )}\n`,
    },
    'scripts/load_example.sh': {
      mode: 0o755,
      text: `#!/bin/bash
# A job in the style of the AWS sample's wrappers: a heredoc fed to rsql. rsqlo gives every job the
# connection as HOST / USER / DB / RSPASSWORD (and PG*), the workflow's parameters as environment
# variables (LOAD_LABEL here), and RSQLO_EXECUTION_ID / RSQLO_JOB_KEY.
rsql -h "$HOST" -U "$USER" -d "$DB" << EOF
\\echo '${workflowId} load_example.sh started' (run $RSQLO_EXECUTION_ID)

CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE IF NOT EXISTS ${schema}.loads (label varchar(64), loaded_at timestamp);
\\if :ERROR <> 0
  \\echo 'Creating the table failed'
  \\remark :LAST_ERROR_MESSAGE
  \\exit 11
\\endif

INSERT INTO ${schema}.loads VALUES ('$LOAD_LABEL', CURRENT_TIMESTAMP(0));
\\if :ERROR <> 0
  \\echo 'The insert failed'
  \\remark :LAST_ERROR_MESSAGE
  \\exit 12
\\else
  \\echo :ACTIVITYCOUNT row inserted
\\endif

\\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\\exit 0
EOF
`,
    },
    'scripts/report_example.sql': {
      text: `-- Run with rsql -f (a .sql script). Statements run in order; see rsql/README.md for what is supported.
\\echo 'loads so far:'
SELECT label, count(*) AS loads FROM ${schema}.loads GROUP BY label ORDER BY label;
`,
    },
    'README.md': {
      text: `# ${workflowId}

Created by \`rsqlo init\`. Run it with \`rsqlo run .\` from this folder (\`rsqlo plan .\` shows what
would run, \`rsqlo validate .\` checks it); edit \`workflow.json\` and the scripts under \`scripts/\`.
`,
    },
  };
}

/** Writes the scaffold into `dir` (created; it must be missing or empty). Returns the files written. */
export function initWorkflow(
  dir: string,
  workflowId: string,
): { ok: true; files: string[] } | { ok: false; error: string } {
  const root = path.resolve(dir);
  const checked = WorkflowId.safeParse(workflowId);
  if (!checked.success)
    return {
      ok: false,
      error: `"${workflowId}" is not a valid workflow_id: ${checked.error.issues[0]?.message}`,
    };
  if (existsSync(root)) {
    if (!statSync(root).isDirectory()) return { ok: false, error: `${root} exists and is not a folder` };
    const present = readdirSync(root);
    if (present.length > 0)
      return {
        ok: false,
        error: `${root} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}); init never overwrites files`,
      };
  }
  const files = scaffold(workflowId);
  const written: string[] = [];
  for (const [rel, f] of Object.entries(files)) {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, f.text, { flag: 'wx', mode: f.mode ?? 0o644 });
    written.push(p);
  }
  return { ok: true, files: written };
}
