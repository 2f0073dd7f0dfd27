#!/bin/bash
# Stage 3, job 1: one row per venue, built with Redshift functions (DECODE, NVL, DATEDIFF, DATEADD,
# LISTAGG … WITHIN GROUP, GETDATE).
rsql -h "$HOST" -U "$USER" -d "$DB" << 'EOF_SQL'
\echo 'tickit_05_venue_sales.sh started'
begin;
create table tickit.venue_sales as
select v.venueid,
       trim(v.venuename) as venuename,
       decode(v.venuestate, 'NY', 'New York', 'CA', 'California', 'TX', 'Texas', 'Other') as region,
       nvl(v.venueseats, 0) as seats,
       count(distinct e.eventid) as events,
       sum(s.qtysold) as tickets,
       sum(s.pricepaid) as revenue,
       max(datediff(day, s.saletime, e.starttime)) as max_days_ahead,
       dateadd(day, 30, max(e.starttime)) as settle_by,
       listagg(distinct e.eventname, '; ') within group (order by e.eventname) as event_names,
       getdate() as loaded_at
from tickit.venue v
join tickit.event e on e.venueid = v.venueid
join tickit.sales s on s.eventid = e.eventid
group by v.venueid, v.venuename, v.venuestate, v.venueseats;
\if :ERROR <> 0
  \remark :LAST_ERROR_MESSAGE
  rollback;
  \exit 51
\endif
\echo 'venues summarised:' :ACTIVITYCOUNT
commit;
\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\exit 0
EOF_SQL
exit $?
