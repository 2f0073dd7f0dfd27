#!/bin/bash
# Stage 3, job 2: one row.
# In the style of the AWS blog's wrappers: a heredoc fed to rsql. rsqlo puts the connection in
# HOST / USER / DB / RSPASSWORD (and PG*), and its RSQL-compatible runner first on PATH as rsql.
rsql -h "$HOST" -U "$USER" -d "$DB" << EOF
\echo ' ------------------------------- '
\echo Start Time - $(date +"%T.%N")
\echo 'rsql_blog_script_6.sh job started'

begin;

/* Redshift workload management; a no-op on PostgreSQL */
SET query_group to 'rsql_blog_querygroup';

\echo '---- Inserting a row into the blog table ----'
INSERT INTO rsql_blog.blog_table VALUES (4, 'rsql_blog_script_6.sh', CURRENT_TIMESTAMP(0));

\if :ERROR <> 0
  \echo 'Insert statement failed with the details below'
  \echo 'Error Code -'
  \echo :ERRORCODE
  \remark :LAST_ERROR_MESSAGE
  \exit 31
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
echo "rsql_blog_script_6.sh job exited with code $rsqlexitcode"
exit $rsqlexitcode
