#!/bin/sh
# variant.sh SRC.exa OPTIMIZER [DECOMPOSE] - prints SRC with its train block's
# optimizer (and decompose) lines replaced and its schedule and clip lines
# dropped (they act on sgd/adam steps only, and a compared optimiser runs at
# its own constant rate): the model is never touched, only how it is trained
# and split, as the language intends.
set -eu
src=$1 opt=$2 dec=${3:-}
awk -v opt="$opt" -v dec="$dec" '
    /^[ \t]*(optimizer|decompose|schedule|clip)[ \t]*=/ { next }
    /^train[ \t]*\{/ { print; print "    optimizer = " opt ";"; if (dec != "") print "    decompose = " dec ";"; next }
    { print }' "$src"
