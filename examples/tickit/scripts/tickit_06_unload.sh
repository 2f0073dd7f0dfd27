#!/bin/bash
# Stage 3, job 2: UNLOAD the summary as one CSV file with a header and a manifest for the consumers,
# then check the export by COPYing it back through its manifest.
rsql -h "$HOST" -U "$USER" -d "$DB" << 'EOF_SQL'
\echo 'tickit_06_unload.sh started'
unload ('select venueid, venuename, region, seats, events, tickets, revenue, event_names from tickit.venue_sales order by venueid')
to 's3://tickit-exports/venue_sales/venue_sales_'
iam_role 'arn:aws:iam::123456789012:role/RedshiftUnloadRole'
csv header parallel off allowoverwrite manifest;
\if :ERROR <> 0
  \remark :LAST_ERROR_MESSAGE
  \exit 61
\endif
\echo 'rows unloaded:' :ACTIVITYCOUNT

create temp table export_check (venueid smallint, venuename varchar(100), region varchar(20), seats integer,
  events bigint, tickets bigint, revenue decimal(18,2), event_names varchar(max));
copy export_check from 's3://tickit-exports/venue_sales/venue_sales_manifest'
iam_role 'arn:aws:iam::123456789012:role/RedshiftUnloadRole'
csv ignoreheader 1 manifest;
select count(*) as exported, (select count(*) from tickit.venue_sales) as summarised from export_check \gset
\if :exported <> :summarised
  \echo 'export check failed:' :exported 'rows read back,' :summarised 'expected'
  \exit 62
\endif
\echo 'export check: rows read back' :exported
\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\exit 0
EOF_SQL
exit $?
