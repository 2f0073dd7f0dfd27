#!/bin/bash
echo "stage/load_orders.sh"
