#!/bin/bash
# Stage 1, job 2: the table (recreated, so every run ends with exactly four rows).
# In the style of the AWS blog's wrappers: a heredoc fed to rsql. rsqlo puts the connection in
# HOST / USER / DB / RSPASSWORD (and PG*), and its RSQL-compatible runner first on PATH as rsql.
rsql -h "$HOST" -U "$USER" -d "$DB" << EOF
\echo ' ------------------------------- '
\echo Start Time - $(date +"%T.%N")
\echo 'rsql_blog_script_2.sh job started'

begin;

/* Redshift workload management; a no-op on PostgreSQL */
SET query_group to 'rsql_blog_querygroup';

\echo '---- Creating the blog table ----'
DROP TABLE IF EXISTS rsql_blog.blog_table;
CREATE TABLE rsql_blog.blog_table
(
    s_no                integer encode az64,
    script_name         character varying(256) encode lzo,
    insertion_timestamp timestamp without time zone encode az64
)
DISTSTYLE EVEN
SORTKEY (s_no);

\if :ERROR <> 0
  \echo 'Create Table statement failed with the details below'
  \echo 'Error Code -'
  \echo :ERRORCODE
  \remark :LAST_ERROR_MESSAGE
  \exit 21
\else
  \echo :ACTIVITYCOUNT
  \remark '**** Statement executed successfully ****'
\endif

commit;

\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\exit 0
EOF

rsqlexitcode=$?
echo "Completion Time - $(date +"%T.%N")"
echo "rsql_blog_script_2.sh job exited with code $rsqlexitcode"
exit $rsqlexitcode
