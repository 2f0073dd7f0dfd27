#!/bin/bash
echo "marts/a.sh"
