#!/bin/bash
echo "rsql_blog_script_2: start"
sleep 0.2
echo "rsql_blog_script_2: done"
