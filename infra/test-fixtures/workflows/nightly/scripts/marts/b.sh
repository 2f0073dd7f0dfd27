#!/bin/bash
echo "marts/b.sh"
