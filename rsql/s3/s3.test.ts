/**
 * Redshift COPY from S3, UNLOAD to S3 and STL_LOAD_ERRORS against a local S3 folder, through the runner
 * (compatibility layer on, Redshift functions installed). Expected values come from the examples of the
 * Amazon Redshift Database Developer Guide page cited above each test
 * (https://docs.aws.amazon.com/redshift/latest/dg/<page>.html).
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, query, sharedConnection } from '../../test/support/postgres.js';
import type { PgConnectionInfo } from '../embedded-postgres.js';
import { installRedshiftCompat } from '../redshift/install.js';
import { makeRunner, type Runner } from '../test-helpers.js';

let r: Runner;
let conn: PgConnectionInfo;
let drop: () => Promise<void>;
let root: string;

beforeAll(async () => {
  const db = await createTestDatabase('rs_s3');
  drop = db.drop;
  conn = db.connection;
  await installRedshiftCompat(conn, { databases: [conn.database] });
  r = makeRunner(conn);
});

afterAll(async () => {
  r?.cleanup();
  await drop?.();
});

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rsql-s3-'));
  return () => rmSync(root, { recursive: true, force: true });
});

/** Puts an object into the local S3. */
function put(key: string, data: string | Buffer): void {
  const file = path.join(root, ...key.split('/'));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
}

function object(key: string): string {
  return readFileSync(path.join(root, ...key.split('/')), 'utf8');
}

async function run(script: string, args = ['-A', '-t', '-q']) {
  return r.run(script, { args: [...args, '--s3-root', root] });
}

/** Output lines of a script that must not fail. */
async function lines(script: string): Promise<string[]> {
  const res = await run(script);
  expect(res.stderr).not.toMatch(/ERROR|WARNING/);
  return res.stdout.replace(/\n$/, '').split('\n');
}

const ROLE = "iam_role 'arn:aws:iam::0123456789012:role/MyRedshiftRole'";

/** VENUE as the TICKIT sample database defines it (c_sampledb / r_COPY_command_examples). */
const VENUE_DDL = `drop table if exists venue; create table venue(venueid smallint not null, venuename varchar(100),
venuecity varchar(30), venuestate char(2), venueseats integer);`;

describe('COPY from the local S3', () => {
  // r_COPY_command_examples.html, "Load VENUE from a pipe-delimited file (default delimiter)": "copy venue
  // from 's3://amzn-s3-demo-bucket/data/venue_pipe.txt' iam_role …" with rows such as
  // "1|Toyota Park|Bridgeview|IL|0"; ACTIVITYCOUNT is the rows loaded and ROW_COUNT 0 (RSQL variables:
  // "ROW_COUNT doesn't report a count … for … COPY or UNLOAD").
  it('loads a pipe-delimited file; INFO line, ACTIVITYCOUNT and PG_LAST_COPY_COUNT', async () => {
    put(
      'amzn-s3-demo-bucket/data/venue_pipe.txt',
      '1|Toyota Park|Bridgeview|IL|0\n2|Columbus Crew Stadium|Columbus|OH|0\n3|RFK Stadium|Washington|DC|0\n',
    );
    const res = await run(
      `${VENUE_DDL}
copy venue from 's3://amzn-s3-demo-bucket/data/venue_pipe.txt' ${ROLE};
\\echo :ACTIVITYCOUNT :ROW_COUNT :ERROR
select pg_last_copy_count();
select venueid, venuename, venuecity, venuestate, venueseats from venue order by venueid;`,
    );
    expect(res.stderr).toContain(
      "INFO:  Load into table 'venue' completed, 3 record(s) loaded successfully.\n",
    );
    expect(res.stderr).not.toMatch(/ERROR|WARNING|arn:aws/);
    expect(res.stdout.split('\n')).toEqual([
      '3 0 false',
      '3',
      '1|Toyota Park|Bridgeview|IL|0',
      '2|Columbus Crew Stadium|Columbus|OH|0',
      '3|RFK Stadium|Washington|DC|0',
      '',
    ]);
  });

  // r_COPY_command_examples.html, "Load CATEGORY from a CSV file": category_csv.txt holds
  //   12,Shows,Musicals,Musical theatre
  //   13,Shows,Plays,"All ""non-musical"" theatre"
  //   14,Shows,Opera,"All opera, light, and ""rock"" opera"
  //   15,Concerts,Classical,"All symphony, concerto, and choir concerts"
  // "copy category from 's3://…/data/category_csv.txt' iam_role … csv;". copy-parameters-data-source-s3.html:
  // "the name custdata.txt is a key prefix that refers to a number of physical files: custdata.txt,
  // custdata.txt.1, custdata.txt.2".
  it('CSV with quoted fields, from every object under a key prefix', async () => {
    put(
      'bucket/data/category_csv.txt',
      '12,Shows,Musicals,Musical theatre\n13,Shows,Plays,"All ""non-musical"" theatre"\n',
    );
    put(
      'bucket/data/category_csv.txt.2',
      '14,Shows,Opera,"All opera, light, and ""rock"" opera"\n15,Concerts,Classical,"All symphony, concerto, and choir concerts"\n',
    );
    put('bucket/data/other.txt', 'not loaded\n');
    expect(
      await lines(`drop table if exists category; create table category(catid smallint, catgroup varchar(10), catname varchar(10), catdesc varchar(50));
copy category from 's3://bucket/data/category_csv.txt' ${ROLE} csv;
\\echo :ACTIVITYCOUNT
select * from category order by catid;`),
    ).toEqual([
      '4',
      '12|Shows|Musicals|Musical theatre',
      '13|Shows|Plays|All "non-musical" theatre',
      '14|Shows|Opera|All opera, light, and "rock" opera',
      '15|Concerts|Classical|All symphony, concerto, and choir concerts',
    ]);
  });

  // copy-parameters-data-conversion.html: "IGNOREHEADER [ AS ] number_rows Treats the specified number_rows
  // as a file header and doesn't load them. Use IGNOREHEADER to skip file headers in all files in a
  // parallel load." DELIMITER: "delimiter '\t'" (r_COPY_command_examples, SALES from tab-delimited data).
  it('IGNOREHEADER skips the header of every file; GZIP; a tab DELIMITER', async () => {
    put('bucket/sales/part-0.gz', gzipSync('salesid\tqty\n1\t4\n2\t2\n'));
    put('bucket/sales/part-1.gz', gzipSync('salesid\tqty\n3\t1\n'));
    expect(
      await lines(`drop table if exists s; create table s(salesid int, qty smallint);
copy s from 's3://bucket/sales/part-' ${ROLE} delimiter '\\t' ignoreheader 1 gzip region 'us-east-1';
\\echo :ACTIVITYCOUNT
select * from s order by 1;`),
    ).toEqual(['3', '1|4', '2|2', '3|1']);
  });

  // r_STL_LOAD_ERRORS.html (columns userid, slice, tbl, starttime, session, query, filename, line_number,
  // colname, type, col_length, position, raw_line, raw_field_value, err_code, err_reason, is_partial,
  // start_offset) and its sample query "… from stl_load_errors … where … query = pg_last_copy_id();";
  // r_Load_Error_Reference.html: "1207 Data contained a value outside of the expected range of 0-9",
  // "1202 Input data had more columns than were defined in the DDL"; copy-parameters-data-load.html
  // MAXERROR: "If the load returns the error_count number of errors or greater, the load fails. If the
  // load returns fewer errors, it continues and returns an INFO message that states the number of rows
  // that could not be loaded."
  it('MAXERROR: rejected rows go to stl_load_errors and the rest loads', async () => {
    put(
      'b/venue/v.txt',
      '1|Toyota Park|Bridgeview|IL|0\nx2|Bad Id|Nowhere|ZZ|0\n3|RFK Stadium|Washington|DC|0|extra\n4|Ok|Town|TX|10\n',
    );
    const res = await run(`${VENUE_DDL}
copy venue from 's3://b/venue/v.txt' ${ROLE} maxerror 5;
\\echo :ACTIVITYCOUNT :ERROR
select count(*) from venue;
select trim(filename), line_number, trim(colname), trim(type), trim(col_length), position, trim(raw_line), trim(raw_field_value), err_code, trim(err_reason), tbl = 'venue'::regclass::oid, session = pg_backend_pid(), slice
  from stl_load_errors where query = pg_last_copy_id() order by line_number;`);
    expect(res.stderr).toContain(
      "INFO:  Load into table 'venue' completed, 2 record(s) loaded successfully.",
    );
    expect(res.stderr).toContain(
      "INFO:  Load into table 'venue' completed, 2 record(s) could not be loaded.  Check 'stl_load_errors' system table for details.",
    );
    expect(res.stdout.split('\n')).toEqual([
      '2 false',
      '2',
      "s3://b/venue/v.txt|2|venueid|int2|0|0|x2|Bad Id|Nowhere|ZZ|0|x2|1207|Invalid digit, Value 'x', Pos 0, Type: Short|t|t|0",
      's3://b/venue/v.txt|3||||0|3|RFK Stadium|Washington|DC|0|extra||1202|Extra column(s) found|t|t|0',
      '',
    ]);
  });

  // The message Redshift gives when MAXERROR is reached (r_Load_Error_Reference / "Troubleshooting data
  // loads": "ERROR: Load into table 'xxx' failed. Check 'stl_load_errors' system table for details.");
  // like Redshift's STL tables, the rejected rows stay when the load (and its transaction) rolls back.
  it('reaching MAXERROR fails the COPY, loads nothing, keeps the rejected rows', async () => {
    put('b/venue/bad.txt', '1|Toyota Park|Bridgeview|IL|0\n2|Columbus|Columbus|OH|many\n');
    const res = await run(`${VENUE_DDL}
begin;
copy venue from 's3://b/venue/bad.txt' ${ROLE};
\\echo :ERROR :ERRORCODE :ACTIVITYCOUNT
rollback;
select count(*) from venue;
select count(*), min(err_code), min(trim(colname)), min(trim(raw_field_value)) from stl_load_errors where query = pg_last_copy_id();
select pg_last_copy_count();`);
    expect(res.stderr).toContain(
      "rsql: ERROR: Load into table 'venue' failed.  Check 'stl_load_errors' system table for details.",
    );
    expect(res.stderr).toContain('error:  Invalid digit');
    expect(res.stdout.split('\n')).toEqual(['true XX000 0', '0', '1|1207|venueseats|many', '0', '']);
  });

  // copy-parameters-data-conversion.html: "EMPTYASNULL Indicates that Amazon Redshift should load empty
  // CHAR and VARCHAR fields as NULL."; "BLANKSASNULL Loads blank fields, which consist of only white space
  // characters, as NULL."; "NULL AS 'null_string' Loads fields that match null_string as NULL";
  // DATEFORMAT / TIMEFORMAT with r_DATEFORMAT_and_TIMEFORMAT_strings.html ("MM-DD-YYYY", "YYYY-MM-DD
  // HH:MI:SS"); r_COPY_command_examples "Load a timestamp or datestamp": time.txt "2009-01-12
  // 14:15:57.119568" with "timeformat 'YYYY-MM-DD HH:MI:SS'" gives 2009-01-12 14:15:57.119568.
  it('EMPTYASNULL, BLANKSASNULL, NULL AS, DATEFORMAT and TIMEFORMAT', async () => {
    put('b/t/one.txt', 'a||   |NULL|01-31-2009|2009-01-12 14:15:57.119568\n');
    expect(
      await lines(`drop table if exists conv; create table conv(a varchar(5), e varchar(5), bl varchar(5), n varchar(5), d date, ts timestamp);
copy conv from 's3://b/t/one.txt' ${ROLE} emptyasnull blanksasnull null as 'NULL' dateformat 'MM-DD-YYYY' timeformat 'YYYY-MM-DD HH:MI:SS';
select a, e is null, bl is null, n is null, d, ts from conv;`),
    ).toEqual(['a|t|t|t|2009-01-31|2009-01-12 14:15:57.119568']);
  });

  // copy-parameters-data-source-s3.html MANIFEST: '{"entries": [{"url":"s3://mybucket-alpha/2013-10-04-custdata",
  // "mandatory":true}, …]}'; "If mandatory is set to true, COPY terminates if it doesn't find the file".
  it('MANIFEST loads the listed files; a missing mandatory file stops the load', async () => {
    put('alpha/2013-10-04-custdata', '1|a|x|AA|1\n');
    put('beta/2013-10-05-custdata', '2|b|y|BB|2\n');
    put(
      'alpha/cust.manifest',
      JSON.stringify({
        entries: [
          { url: 's3://alpha/2013-10-04-custdata', mandatory: true },
          { url: 's3://beta/2013-10-05-custdata', mandatory: false },
          { url: 's3://beta/absent', mandatory: false },
        ],
      }),
    );
    put('alpha/bad.manifest', JSON.stringify({ entries: [{ url: 's3://beta/absent', mandatory: true }] }));
    const res = await run(`${VENUE_DDL}
copy venue from 's3://alpha/cust.manifest' ${ROLE} manifest;
select venueid from venue order by 1;
copy venue from 's3://alpha/bad.manifest' ${ROLE} manifest;`);
    expect(res.stdout).toBe('1\n2\n');
    expect(res.stderr).toContain(
      'rsql: ERROR: Manifest file error: the mandatory file s3://beta/absent was not found',
    );
  });

  it('a missing prefix is an error naming it, and nothing is loaded', async () => {
    const res = await run(`${VENUE_DDL}
copy venue from 's3://b/none/' ${ROLE};
\\echo :ERROR`);
    expect(res.stderr).toContain("rsql: ERROR: The specified S3 prefix 'none/' does not exist");
    expect(res.stdout).toBe('true\n');
  });
});

describe('credentials are accepted, ignored and never printed', () => {
  // r_COPY.html: "CREDENTIALS 'aws_access_key_id=…;aws_secret_access_key=…'", ACCESS_KEY_ID / SECRET_ACCESS_KEY /
  // SESSION_TOKEN, IAM_ROLE, REGION. None has a meaning against a local folder.
  it('every authorization form is accepted; a syntax error does not repeat a value', async () => {
    put('b/c.txt', '1|x|y|ZZ|1\n');
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
    const res = await run(`${VENUE_DDL}
copy venue from 's3://b/c.txt' credentials 'aws_access_key_id=AKIAEXAMPLE;aws_secret_access_key=${secret}';
copy venue from 's3://b/c.txt' access_key_id 'AKIAEXAMPLE' secret_access_key '${secret}' session_token 'tok' region 'eu-west-1';
copy venue from 's3://b/c.txt' with credentials as 'aws_iam_role=arn:aws:iam::1:role/R' compupdate off statupdate on;
copy venue from 's3://b/c.txt' iam_role default;
select count(*) from venue;
copy venue from 's3://b/c.txt' secret_access_key '${secret}' bogus_option;
unload ('select 1') to 's3://b/u/' credentials '${secret}' nonsense;`);
    expect(res.stdout).toBe('4\n');
    expect(res.stderr.match(/ERROR: syntax error at or near/g)?.length).toBe(2);
    expect(res.stderr).not.toContain(secret);
    expect(res.stderr).not.toContain('AKIAEXAMPLE');
  });

  it('echoing queries (-e) shows the statement with its secret values masked', async () => {
    put('b/c.txt', '1|x|y|ZZ|1\n');
    const res = await run(
      `${VENUE_DDL}
copy venue from 's3://b/c.txt' credentials 'aws_access_key_id=AKIAEXAMPLE;aws_secret_access_key=SECRETKEY' region 'us-east-1';
copy venue from 's3://b/c.txt' secret_access_key as 'SECRETKEY' access_key_id 'AKIAEXAMPLE';`,
      ['-A', '-t', '-e'],
    );
    expect(res.stdout).toContain("copy venue from 's3://b/c.txt' credentials '***' region 'us-east-1';");
    expect(res.stdout).toContain(
      "copy venue from 's3://b/c.txt' secret_access_key as '***' access_key_id '***';",
    );
    expect(res.stdout + res.stderr).not.toMatch(/SECRETKEY|AKIAEXAMPLE/);
  });
});

describe('UNLOAD to the local S3', () => {
  const VENUE_ROWS = `insert into venue values (6,'New York Giants Stadium','East Rutherford','NJ',80242),
(78,'INVESCO Field','Denver','CO',76125),(83,'FedExField','Landover','MD',91704),(79,'Arrowhead Stadium','Kansas City','MO',79451),
(1,'Toyota Park','Bridgeview','IL',0);`;

  // r_UNLOAD_command_examples.html "Unload VENUE with a header": "unload ('select * from venue where
  // venueseats > 75000') to 's3://amzn-s3-demo-bucket/unload/' iam_role … header parallel off;" gives
  //   venueid|venuename|venuecity|venuestate|venueseats
  //   6|New York Giants Stadium|East Rutherford|NJ|80242 …
  // and "Unload VENUE serially": "parallel off" writes "venue_serial_000".
  it('HEADER and PARALLEL OFF: one <prefix>000 file with the header line', async () => {
    const res = await run(`${VENUE_DDL}
${VENUE_ROWS}
unload ('select * from venue where venueseats > 75000 order by venueid') to 's3://amzn-s3-demo-bucket/unload/venue_serial_' ${ROLE} header parallel off;
\\echo :ACTIVITYCOUNT :ROW_COUNT
select pg_last_unload_count();`);
    expect(res.stderr).toContain('INFO:  UNLOAD completed, 4 record(s) unloaded successfully.');
    expect(res.stdout).toBe('4 0\n4\n');
    expect(readdirSync(path.join(root, 'amzn-s3-demo-bucket/unload'))).toEqual(['venue_serial_000']);
    expect(object('amzn-s3-demo-bucket/unload/venue_serial_000')).toBe(
      'venueid|venuename|venuecity|venuestate|venueseats\n6|New York Giants Stadium|East Rutherford|NJ|80242\n78|INVESCO Field|Denver|CO|76125\n79|Arrowhead Stadium|Kansas City|MO|79451\n83|FedExField|Landover|MD|91704\n',
    );
  });

  // r_UNLOAD_command_examples.html: "unload ('select * from venue') to 's3://…/unload/venue_pipe_'" makes
  // "venue_pipe_0000_part_00 …"; "Unload VENUE with a manifest file" writes "venue_manifest" with
  //   { "entries": [ {"url":"s3://amzn-s3-demo-bucket/tickit/venue_0000_part_00"}, … ] }
  // r_UNLOAD.html ALLOWOVERWRITE: "By default, UNLOAD fails if it finds files that it would possibly
  // overwrite. If ALLOWOVERWRITE is specified, UNLOAD overwrites existing files, including the manifest".
  it('default naming <prefix>0000_part_00, MANIFEST, ALLOWOVERWRITE', async () => {
    const unload = (extra: string) =>
      `unload ('select venueid, venuename from venue where venueid < 10 order by venueid') to 's3://amzn-s3-demo-bucket/tickit/venue_' ${ROLE} manifest ${extra};`;
    const res = await run(`${VENUE_DDL}
${VENUE_ROWS}
${unload('')}
${unload('')}
\\echo :ERROR
${unload('allowoverwrite')}
\\echo :ERROR`);
    expect(res.stderr).toContain(
      'rsql: ERROR: Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, manually removing the target files in S3, or using the ALLOWOVERWRITE option.',
    );
    expect(res.stdout).toBe('true\nfalse\n');
    expect(readdirSync(path.join(root, 'amzn-s3-demo-bucket/tickit')).sort()).toEqual([
      'venue_0000_part_00',
      'venue_manifest',
    ]);
    expect(object('amzn-s3-demo-bucket/tickit/venue_0000_part_00')).toBe(
      '1|Toyota Park\n6|New York Giants Stadium\n',
    );
    expect(JSON.parse(object('amzn-s3-demo-bucket/tickit/venue_manifest'))).toEqual({
      entries: [{ url: 's3://amzn-s3-demo-bucket/tickit/venue_0000_part_00' }],
    });
  });

  // r_UNLOAD_command_examples.html "Unload VENUE to a CSV file" ("unload ('select * from venue') to
  // 's3://…/unload/' iam_role … CSV;" → "1,Toyota Park,Bridgeview,IL,0"), r_UNLOAD.html CSV: "If a field
  // contains delimiters, double quotation marks, newline characters, or carriage returns, then the field in
  // the unloaded file is enclosed in double quotation marks. A double quotation mark within a data field is
  // escaped by an additional double quotation mark."; GZIP: "Unload VENUE to a GZIP-compressed text file"
  // writes "venue_0000_part_00.gz"; DELIMITER: "Unload VENUE to a tab-delimited file" (delimiter as '\t').
  it('CSV quoting, GZIP (.gz) and a DELIMITER; the files COPY back', async () => {
    const res = await run(`drop table if exists q; create table q(id int, txt varchar(40));
insert into q values (1, 'Toyota Park'), (2, 'Phoenix, AZ'), (3, 'say "hi"'), (4, null);
unload ('select * from q order by id') to 's3://b/csv/q_' ${ROLE} csv parallel off;
unload ('select * from q order by id') to 's3://b/gz/q_' ${ROLE} gzip delimiter as '\\t';
create table q2 (like q);
copy q2 from 's3://b/csv/q_' ${ROLE} csv;
copy q2 from 's3://b/gz/q_' ${ROLE} gzip delimiter '\\t' emptyasnull;
select count(*), count(distinct txt), count(txt) from q2;`);
    expect(res.stderr).not.toMatch(/ERROR/);
    expect(object('b/csv/q_000')).toBe('1,Toyota Park\n2,"Phoenix, AZ"\n3,"say ""hi"""\n4,\n');
    expect(readdirSync(path.join(root, 'b/gz'))).toEqual(['q_0000_part_00.gz']);
    expect(gunzipSync(readFileSync(path.join(root, 'b/gz/q_0000_part_00.gz'))).toString()).toBe(
      '1\tToyota Park\n2\tPhoenix, AZ\n3\tsay "hi"\n4\t\n',
    );
    expect(res.stdout).toBe('8|4|7\n');
  });

  it('a query failing after some rows writes nothing (no part file, no temporary file)', async () => {
    const res =
      await run(`unload ('select 1/(3-g) from generate_series(1, 5) g') to 's3://b/fail/x_' ${ROLE} parallel off;
\\echo :ERROR :ERRORCODE`);
    expect(res.stderr).toContain('rsql: ERROR: division by zero');
    expect(res.stdout).toBe('true 22012\n');
    expect(readdirSync(path.join(root, 'b/fail'))).toEqual([]);
  });
});

describe('locations never leave the S3 root', () => {
  it('refuses .. segments and links leading outside the root, for COPY and UNLOAD', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'rsql-s3-outside-'));
    try {
      writeFileSync(path.join(outside, 'secret.txt'), '9|x|y|ZZ|9\n');
      put('b/ok.txt', '1|x|y|ZZ|1\n');
      mkdirSync(path.join(root, 'b/links'), { recursive: true });
      symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'b/links/secret.txt'));
      symlinkSync(outside, path.join(root, 'evil'));
      const res = await run(`${VENUE_DDL}
copy venue from 's3://b/../../etc/passwd' ${ROLE};
copy venue from 's3://b/links/' ${ROLE};
copy venue from 's3://evil/secret' ${ROLE};
unload ('select 1') to 's3://evil/out_' ${ROLE};
unload ('select 1') to 's3://b/../../x_' ${ROLE};
select count(*) from venue;`);
      expect(res.stdout).toBe('0\n');
      expect(res.stderr.match(/ERROR: invalid S3 key/g)?.length).toBe(2);
      expect(
        res.stderr.match(/leads outside the local S3 root through a symbolic link; refused/g)?.length,
      ).toBe(3);
      expect(readdirSync(outside)).toEqual(['secret.txt']);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('installation', () => {
  // r_STL_LOAD_ERRORS.html lists the columns in this order, with these types.
  it('the compatibility install creates stl_load_errors with Redshift’s columns before any COPY', async () => {
    const db = await createTestDatabase('rs_s3_install');
    try {
      await installRedshiftCompat(db.connection, { databases: [db.connection.database] });
      const cols = await query<{ name: string; type: string }>(
        db.connection,
        `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type from pg_attribute a
         where a.attrelid = 'pg_catalog.stl_load_errors'::regclass and a.attnum > 0 order by a.attnum`,
      );
      expect(cols.map((c) => `${c.name} ${c.type}`)).toEqual([
        'userid integer',
        'slice integer',
        'tbl integer',
        'starttime timestamp without time zone',
        'session integer',
        'query integer',
        'filename character(256)',
        'line_number bigint',
        'colname character(127)',
        'type character(10)',
        'col_length character(10)',
        'position integer',
        'raw_line character(1024)',
        'raw_field_value character(1024)',
        'err_code integer',
        'err_reason character(100)',
        'is_partial integer',
        'start_offset bigint',
      ]);
    } finally {
      await db.drop();
    }
  });
});

describe('quotes inside UNLOAD', () => {
  // r_UNLOAD.html: "If your query contains quotation marks (for example to enclose literal values), put the
  // literal between two sets of single quotation marks—you must also enclose the query between single
  // quotation marks: ('select * from venue where venuestate=''NV''')". Redshift scripts also escape them
  // with a backslash (standard_conforming_strings is off on Redshift, and so on the compatibility session).
  it("''NV'' and \\'NV\\' both reach the query as 'NV'", async () => {
    const res = await run(`${VENUE_DDL}
insert into venue values (1, 'Sam Boyd Stadium', 'Las Vegas', 'NV', 40000), (2, 'Other', 'Reno', 'CA', 1);
unload ('select venuename from venue where venuestate=''NV''') to 's3://b/q/doubled_' ${ROLE} parallel off;
unload ('select venuename from venue where venuestate=\\'NV\\'') to 's3://b/q/backslash_' ${ROLE} parallel off;`);
    expect(res.stderr).not.toMatch(/ERROR/);
    expect(object('b/q/doubled_000')).toBe('Sam Boyd Stadium\n');
    expect(object('b/q/backslash_000')).toBe('Sam Boyd Stadium\n');
  });
});

describe('UNLOAD failing while it writes', () => {
  it('a file name taken by a folder fails the statement and leaves no temporary file', async () => {
    mkdirSync(path.join(root, 'b/d/x_000'), { recursive: true });
    writeFileSync(path.join(root, 'b/d/x_000/keep'), 'kept');
    const res = await run(`unload ('select 1') to 's3://b/d/x_' ${ROLE} parallel off allowoverwrite;
\\echo :ERROR :ACTIVITYCOUNT
select pg_last_unload_count();`);
    expect(res.stderr).toMatch(/rsql: ERROR: UNLOAD could not write to s3:\/\/b\/d\/x_: /);
    expect(res.stdout).toBe('true 0\n0\n');
    expect(readdirSync(path.join(root, 'b/d'))).toEqual(['x_000']);
    expect(readdirSync(path.join(root, 'b/d/x_000'))).toEqual(['keep']);
  });
});

describe('large files stream through', () => {
  it('30,000 gzipped CSV rows with quoted line feeds load whole across read chunks', async () => {
    const rows: string[] = [];
    for (let i = 1; i <= 30_000; i++) rows.push(`${i},"line ${i}\nsecond ""part"" ${'x'.repeat(i % 50)}"`);
    put('big/rows.csv.gz', gzipSync(`${rows.join('\n')}\n`));
    expect(
      await lines(`drop table if exists big; create table big(id int, txt varchar(200));
copy big from 's3://big/rows.csv.gz' ${ROLE} csv gzip;
\\echo :ACTIVITYCOUNT
select count(*), sum(id), sum(length(txt)), count(*) filter (where txt like 'line %' || chr(10) || 'second "part" %') from big;`),
    ).toEqual([
      '30000',
      `30000|450015000|${rows.reduce((a, r) => a + r.length - r.indexOf('"') - 2 - 2, 0)}|30000`,
    ]);
  });
});

describe('a database without the compatibility install, an ordinary user', () => {
  // The runner creates rsqlo_redshift.stl_load_errors itself on first use; without the superuser's
  // pg_catalog view it qualifies the name in statements that read it (r_STL_LOAD_ERRORS.html sample:
  // "select … from stl_load_errors … where query = pg_last_copy_id()").
  it('records and reads rejected rows through the qualified table', async () => {
    const db = await createTestDatabase('rs_s3_plain');
    const role = `s3_plain_${Math.random().toString(36).slice(2, 10)}`;
    const runner = makeRunner({ ...db.connection, user: role, password: 'pw-plain' });
    try {
      await query(db.connection, `create role ${role} login password 'pw-plain'`);
      await query(db.connection, `grant create on database "${db.connection.database}" to ${role}`);
      await query(db.connection, `grant create on schema public to ${role}`);
      put('b/plain.txt', '1|ok\nx|bad\n');
      const res = await runner.run(
        `create table t(id int, v varchar(5));
copy t from 's3://b/plain.txt' ${ROLE} maxerror 3;
select count(*) from t;
select line_number, trim(colname), err_code from stl_load_errors where query = pg_last_copy_id();
select count(*) from pg_catalog.pg_class where relname = 'stl_load_errors' and relnamespace = 'pg_catalog'::regnamespace;`,
        { args: ['-A', '-t', '-q', '--s3-root', root] },
      );
      expect(res.stderr).not.toMatch(/ERROR|WARNING/);
      expect(res.stdout).toBe('1\n2|id|1207\n0\n');
    } finally {
      runner.cleanup();
      await db.drop();
      await query(sharedConnection(), `drop role if exists ${role}`);
    }
  });
});

describe('a runner killed during UNLOAD', () => {
  it('leaves only temporary files, which neither COPY nor the next UNLOAD take for objects', async () => {
    // what `kill -9` in the middle of an UNLOAD leaves: the part being written under its temporary name
    put('b/k/.x_000.rsqlo-424242.tmp', '1|half a li');
    put('b/k/x_manifest.rsqlo-424242.tmp', '{"entr');
    const res = await run(`${VENUE_DDL}
copy venue from 's3://b/k/' ${ROLE};
unload ('select 7, ''v'', ''c'', ''ST'', 1') to 's3://b/k/x_' ${ROLE} parallel off manifest;
copy venue from 's3://b/k/x_manifest' ${ROLE} manifest;
select venueid from venue;`);
    expect(res.stderr).toContain("rsql: ERROR: The specified S3 prefix 'k/' does not exist");
    expect(res.stderr.match(/ERROR/g)?.length).toBe(1);
    expect(res.stdout).toBe('7\n');
  });
});

describe('the server dying during a COPY', () => {
  it('ends the run with a lost connection instead of waiting forever for a full socket to drain', async () => {
    const rows: string[] = [];
    for (let i = 1; i <= 400_000; i++) rows.push(`${i}|${'payload-'.repeat(12)}${i}`);
    put('die/rows.txt.gz', gzipSync(`${rows.join('\n')}\n`));
    const res = await run(`drop table if exists dying; create table dying(id int, v varchar(200));
create function die() returns trigger language plpgsql as $$
begin
  if new.id = 200000 then perform pg_terminate_backend(pg_backend_pid()); end if;
  return new;
end $$;
create trigger dying_die before insert on dying for each row execute function die();
copy dying from 's3://die/rows.txt.gz' ${ROLE} gzip;
\\echo not reached`);
    expect(res.stdout).not.toContain('not reached');
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/terminat|connection/i);
  }, 120_000);
});
