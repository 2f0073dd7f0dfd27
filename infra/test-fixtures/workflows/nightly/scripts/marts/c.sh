#!/bin/bash
echo "marts/c.sh"
