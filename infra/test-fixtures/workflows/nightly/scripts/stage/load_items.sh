#!/bin/bash
echo "stage/load_items.sh"
