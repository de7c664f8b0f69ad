#!/bin/sh
# Packages must not start services while an image is built (see invoke-rc.d(8)).
exit 101
