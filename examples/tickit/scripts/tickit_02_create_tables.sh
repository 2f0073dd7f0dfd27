#!/bin/bash
# Stage 1, job 2: the TICKIT tables, written for Redshift (DISTKEY, SORTKEY, ENCODE, DISTSTYLE,
# VARCHAR(MAX), GETDATE()); the runner's compatibility layer makes them PostgreSQL tables.
rsql -h "$HOST" -U "$USER" -d "$DB" << 'EOF_SQL'
\echo 'tickit_02_create_tables.sh started'
SET query_group to 'tickit_etl';

drop schema if exists tickit cascade;
create schema tickit;

create table tickit.users(
  userid integer not null distkey sortkey,
  username char(8),
  firstname varchar(30),
  lastname varchar(30),
  city varchar(30),
  state char(2),
  email varchar(100),
  likesports boolean);

create table tickit.venue(
  venueid smallint not null distkey sortkey,
  venuename varchar(100),
  venuecity varchar(30),
  venuestate char(2),
  venueseats integer) diststyle all;

create table tickit.event(
  eventid integer not null distkey,
  venueid smallint not null,
  catid smallint not null,
  eventname varchar(200),
  starttime timestamp) sortkey(starttime);

create table tickit.sales(
  salesid integer not null,
  sellerid integer not null,
  buyerid integer not null,
  eventid integer not null distkey,
  qtysold smallint not null encode az64,
  pricepaid decimal(8,2),
  commission decimal(8,2),
  saletime timestamp) compound sortkey(saletime);

-- the rows COPY rejected, kept by the error branch of tickit_04_load_sales.sh
create table tickit.load_rejects(
  load_query integer,
  filename varchar(256),
  line_number bigint,
  colname varchar(127),
  err_code integer,
  err_reason varchar(100),
  raw_line varchar(max),
  recorded_at timestamp default getdate());

\if :ERROR <> 0
  \echo 'Creating the TICKIT tables failed:' :ERRORCODE
  \remark :LAST_ERROR_MESSAGE
  \exit 21
\endif
\echo '********** JOB COMPLETED SUCCESSFULLY **********'
\exit 0
EOF_SQL
exit $?
