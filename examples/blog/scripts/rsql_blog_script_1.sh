#!/bin/bash
echo "rsql_blog_script_1: start"
sleep 0.2
echo "rsql_blog_script_1: done"
