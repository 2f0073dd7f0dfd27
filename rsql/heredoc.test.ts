/**
 * Scripts run the way the seed's wrappers run them: a bash script with `rsql -h $HOST -U $USER -d $DB <<EOF`
 * (the shell expands `$VAR`, backquotes and `$(…)` first), `rsql` being bin/rsql.js found on PATH, the
 * wrapper's `rsqlexitcode=$?` capturing our exit code.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';

const RSQL_JS = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/rsql.js');

let conn: PgConnectionInfo;
let drop: () => Promise<void>;
let dir: string;

beforeAll(async () => {
  const db = await createTestDatabase('rsql_heredoc');
  conn = db.connection;
  drop = db.drop;
  dir = mkdtempSync(join(tmpdir(), 'rsql-heredoc-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(RSQL_JS, join(bin, 'rsql'));
  // the seed's wrappers source a credentials script that exports HOST/USER/DB and RSPASSWORD
  writeFileSync(
    join(dir, 'get_redshift_creds.sh'),
    `export HOST=${conn.host}\nexport PORT=${conn.port}\nexport USER=${conn.user}\nexport DB=${conn.database}\nexport RSPASSWORD='${conn.password}'\n`,
  );
});

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await drop?.();
});

/** Runs a wrapper script with bash, `rsql` on PATH; returns exit status and output. */
function wrapper(name: string, body: string): { status: number | null; stdout: string; stderr: string } {
  const file = join(dir, name);
  writeFileSync(file, body);
  chmodSync(file, 0o755);
  const r = spawnSync('bash', [file, dir, 'secret-id'], {
    encoding: 'utf8',
    env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, PGPORT: String(conn.port) },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bash heredoc wrappers', () => {
  it('runs the blog script 1 pattern (schema creation, \\if :ERROR, \\exit 0)', () => {
    const r = wrapper(
      'rsql_blog_script_1.sh',
      `source $1/get_redshift_creds.sh $2
rsql -h $HOST -U $USER -d $DB << EOF

\\echo ' ------------------------------- '

\\echo \`date +%Y\`
\\echo Start Time - $(date +"%T")

\\echo '\\n ******************* MAIN EXECUTION LOG STARTS FROM HERE ********************* \\n'
\\echo 'rsql_blog_script_1.sh job started'

begin ;

/* SET QUERY Group */
SET query_group to 'rsql_blog_querygroup';

CREATE SCHEMA if not exists rsql_blog ;

\\if :ERROR <> 0
 \\echo 'Create Schema Statement Failed with Below Details'
 \\echo :ERRORCODE
 \\remark :LAST_ERROR_MESSAGE
 \\exit 21
\\else
 \\echo :ACTIVITYCOUNT
 \\remark '\\n **** Statement Executed Successfully **** \\n'
\\endif

commit ;

\\echo '\\n ********** JOB COMPLETED SUCCESSFULLY *********** \\n'
\\exit 0

EOF

rsqlexitcode=$?
echo "rsql_blog_script_1.sh job exited with error code $rsqlexitcode"
exit $rsqlexitcode
`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(' ------------------------------- \n');
    expect(r.stdout).toMatch(/\n\d{4}\nStart Time - \d\d:\d\d:\d\d\n/);
    expect(r.stdout).toContain(
      'BEGIN\nSET\nCREATE SCHEMA\n0\n\n **** Statement Executed Successfully **** \n\nCOMMIT\n',
    );
    expect(r.stdout).toContain('JOB COMPLETED SUCCESSFULLY');
    expect(r.stdout).toContain('rsql_blog_script_1.sh job exited with error code 0\n');
  });

  it('propagates the error branch exit code through the wrapper', () => {
    const r = wrapper(
      'rsql_blog_script_3.sh',
      `source $1/get_redshift_creds.sh $2
rsql -h $HOST -U $USER -d $DB << EOF
begin ;
SET query_group to 'rsql_blog_querygroup';
INSERT INTO "rsql_blog_missing"."blog_table" VALUES
(
\t1,
    'rsql_blog_script_3.sh',
\tCURRENT_TIMESTAMP(0)
);

\\if :ERROR <> 0
 \\echo 'Insert Statement Failed with Below Details'
 \\echo 'Error Code -'
 \\echo :ERRORCODE
 \\remark :LAST_ERROR_MESSAGE
 \\exit 21
\\else
 \\echo :ACTIVITYCOUNT
\\endif
commit ;
\\exit 0
EOF

rsqlexitcode=$?
echo "exited with error code $rsqlexitcode"
exit $rsqlexitcode
`,
    );
    expect(r.status).toBe(21);
    expect(r.stderr).toBe('rsql: ERROR: relation "rsql_blog_missing.blog_table" does not exist\n');
    expect(r.stdout).toContain(
      'Error Code -\n42P01\nrelation "rsql_blog_missing.blog_table" does not exist\n',
    );
    expect(r.stdout).toContain('exited with error code 21\n');
  });

  it('works in a pipeline and with ON_ERROR_STOP from -v', () => {
    const r = wrapper(
      'pipe.sh',
      `source $1/get_redshift_creds.sh $2
printf 'select 1 as a;\\nselect 1/0;\\nselect 2 as b;\\n' | rsql -h $HOST -U $USER -d $DB -v ON_ERROR_STOP=1 -q
echo "status \${PIPESTATUS[1]}"
`,
    );
    expect(r.stdout).toBe(' a \n---\n 1\n(1 row)\n\nstatus 3\n');
    expect(r.stderr).toBe('rsql: ERROR: division by zero\n');
  });

  it('reports a malformed heredoc script with its line number and no stack trace', () => {
    const r = wrapper(
      'bad.sh',
      `source $1/get_redshift_creds.sh $2
rsql -h $HOST -U $USER -d $DB <<'EOF'
\\echo start
\\if :ERROR <> 0
  \\echo never
EOF
`,
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('start\n');
    expect(r.stderr).toBe(
      'rsql: <stdin>:4: reached end of file without finding closing \\endif (\\if at line 2)\n',
    );
  });
});
