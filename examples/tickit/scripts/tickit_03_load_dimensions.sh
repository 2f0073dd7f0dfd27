#!/bin/bash
# Stage 2, job 1: the dimensions, COPY'd from S3 the way the Redshift job did (the IAM role and region
# are accepted and ignored locally).
rsql -h "$HOST" -U "$USER" -d "$DB" << 'EOF_SQL'
\echo 'tickit_03_load_dimensions.sh started'

-- CSV with a header line; empty e-mail fields become NULL
copy tickit.users from 's3://tickit-landing/2008/allusers.csv'
iam_role 'arn:aws:iam::123456789012:role/RedshiftLoadRole' region 'us-east-1'
csv ignoreheader 1 emptyasnull;
\if :ERROR <> 0
  \remark :LAST_ERROR_MESSAGE
  \exit 31
\endif
\echo 'users loaded:' :ACTIVITYCOUNT

-- pipe-delimited (the default delimiter); blank seat counts become NULL
copy tickit.venue from 's3://tickit-landing/2008/venue_pipe.txt'
iam_role 'arn:aws:iam::123456789012:role/RedshiftLoadRole'
delimiter '|' blanksasnull;
\if :ERROR <> 0
  \remark :LAST_ERROR_MESSAGE
  \exit 32
\endif
\echo 'venues loaded:' :ACTIVITYCOUNT

copy tickit.event from 's3://tickit-landing/2008/allevents_pipe.txt'
iam_role 'arn:aws:iam::123456789012:role/RedshiftLoadRole'
delimiter '|' timeformat 'YYYY-MM-DD HH:MI:SS';
\if :ERROR <> 0
  \remark :LAST_ERROR_MESSAGE
  \exit 33
\endif
\echo 'events loaded:' :ACTIVITYCOUNT
\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\exit 0
EOF_SQL
exit $?
