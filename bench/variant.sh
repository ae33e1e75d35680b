#!/bin/sh
# variant.sh SRC.exa OPTIMIZER [DECOMPOSE] - prints SRC with its train block's
# optimizer (and decompose) lines replaced: the model is never touched, only
# how it is trained and split, as the language intends.
set -eu
src=$1 opt=$2 dec=${3:-}
awk -v opt="$opt" -v dec="$dec" '
    /^[ \t]*(optimizer|decompose)[ \t]*=/ { next }
    /^train[ \t]*\{/ { print; print "    optimizer = " opt ";"; if (dec != "") print "    decompose = " dec ";"; next }
    { print }' "$src"
