#!/bin/bash
# Stage 2, job 2: SALES from two gzipped, tab-delimited parts (the key prefix sales_tab.txt matches
# both). The feed has bad rows now and then: the strict load fails, and the error branch reads
# stl_load_errors, reports the failure, reloads with MAXERROR and keeps the rejected rows.
rsql -h "$HOST" -U "$USER" -d "$DB" << 'EOF_SQL'
\echo 'tickit_04_load_sales.sh started'

copy tickit.sales from 's3://tickit-landing/2008/sales_tab.txt'
iam_role 'arn:aws:iam::123456789012:role/RedshiftLoadRole'
delimiter '\t' gzip timeformat 'MM/DD/YYYY HH:MI:SS';

\if :ERROR <> 0
  \echo 'Strict load of tickit.sales failed with' :ERRORCODE
  \remark :LAST_ERROR_MESSAGE
  select query, trim(filename) as filename, line_number, trim(colname) as colname, err_code, trim(err_reason) as err_reason
  from stl_load_errors where query = pg_last_copy_id() order by line_number;

  \echo 'Reloading tickit.sales with MAXERROR 10'
  copy tickit.sales from 's3://tickit-landing/2008/sales_tab.txt'
  iam_role 'arn:aws:iam::123456789012:role/RedshiftLoadRole'
  delimiter '\t' gzip timeformat 'MM/DD/YYYY HH:MI:SS' maxerror 10;
  \if :ERROR <> 0
    \remark :LAST_ERROR_MESSAGE
    \exit 41
  \endif
  \echo 'sales loaded:' :ACTIVITYCOUNT

  insert into tickit.load_rejects (load_query, filename, line_number, colname, err_code, err_reason, raw_line)
  select query, trim(filename), line_number, trim(colname), err_code, trim(err_reason), trim(raw_line)
  from stl_load_errors where query = pg_last_copy_id();
  \echo 'rejected rows kept in tickit.load_rejects:' :ACTIVITYCOUNT
\else
  \echo 'sales loaded:' :ACTIVITYCOUNT
\endif
\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\exit 0
EOF_SQL
exit $?
