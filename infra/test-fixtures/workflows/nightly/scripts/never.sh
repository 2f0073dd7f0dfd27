#!/bin/bash
echo "never.sh"
