#!/bin/bash
# Stage 1, job 1: the day's source files arrive in the landing bucket. In production an upstream
# system writes them to s3://tickit-landing/2008/; on one machine "S3" is the folder $RSQL_S3_ROOT
# (the local engine sets it to <home>/s3), so this job copies the example's files there.
set -eu
: "${RSQL_S3_ROOT:?RSQL_S3_ROOT is not set (rsqlo sets it to <home>/s3 for every job)}"
here="$(cd "$(dirname "$0")" && pwd)"
landing="$RSQL_S3_ROOT/tickit-landing/2008"
mkdir -p "$landing"
cp "$here"/../data/* "$landing/"
echo "landed $(ls "$landing" | wc -l) files in s3://tickit-landing/2008/"
