#!/bin/sh
# check-words.sh SRC - every reserved word of compiler/front/keywords.def and every
# built-in name of compiler/sema/builtins.def must be in the word lists of each
# editor mode (Vim, Emacs, VS Code), and the lists must hold no word that
# those files do not: a mode that drifts from the compiler fails here, naming
# the word and the mode.  POSIX sh, sed and awk only.
src=${1:?usage: check-words.sh SOURCE_DIR}
kwdef=$src/compiler/front/keywords.def
bidef=$src/compiler/sema/builtins.def
vim=$src/editors/vim/syntax/exa.vim
emacs=$src/editors/emacs/exa-mode.el
tm=$src/editors/vscode/syntaxes/exa.tmLanguage.json
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

sed -n 's/^[[:space:]]*KEYWORD([[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*,.*/\1/p' "$kwdef" |
    sort -u >"$tmp/keywords"
sed -n 's/^[[:space:]]*BUILTIN([[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*,.*/\1/p' "$bidef" |
    sort -u >"$tmp/builtins"
for f in keywords builtins; do
    if [ ! -s "$tmp/$f" ]; then
        echo "FAIL: no $f read from compiler/$f.def (has its format changed?)"
        exit 1
    fi
done

# Each extractor prints "K word" for a word the mode highlights as a
# reserved word and "B word" for one it highlights as a built-in.

# Vim: `syn keyword GROUP word... [options]` lines.
extract_vim() {
    awk '
    $1 == "syn" && $2 == "keyword" {
        if ($3 ~ /^exa(Keyword|Decl|Repeat|Statement|Type|Primitive)$/) k = "K"
        else if ($3 ~ /^exa(Builtin|Constant)$/) k = "B"
        else next
        for (i = 4; i <= NF; i++) {
            if ($i ~ /=/ || $i ~ /^(contained|skipwhite|skipnl|skipempty|transparent)$/) continue
            print k, $i
        }
    }' "$vim"
}

# Emacs: the quoted words of the (defconst exa-...-keywords / exa-builtins /
# exa-constants '(...)) lists, up to the line that closes the list.
extract_emacs() {
    awk '
    /^\(defconst exa-(declaration|control|type|strategy)-keywords$/ { k = "K"; next }
    /^\(defconst exa-(builtins|constants)$/ { k = "B"; next }
    k != "" {
        line = $0
        sub(/;.*/, "", line)
        rest = line
        while (match(rest, /"[A-Za-z_][A-Za-z0-9_]*"/)) {
            print k, substr(rest, RSTART + 1, RLENGTH - 2)
            rest = substr(rest, RSTART + RLENGTH)
        }
        if (line ~ /\)[[:space:]]*$/) k = ""
    }' "$emacs"
}

# VS Code: one-line rules { "name": "SCOPE", "match": "\\b(?:a|b|c)\\b" };
# keyword.* and storage.* scopes are reserved words, support.* built-ins.
extract_tm() {
    awk '
    /"name": *"[^"]*"/ && /"match": *"\\\\b\(\?:[A-Za-z0-9_|]*\)\\\\b"/ {
        name = $0; sub(/.*"name": *"/, "", name); sub(/".*/, "", name)
        if (name ~ /^(keyword|storage)\./) k = "K"
        else if (name ~ /^support\./) k = "B"
        else next
        m = $0; sub(/.*"match": *"\\\\b\(\?:/, "", m); sub(/\)\\\\b".*/, "", m)
        n = split(m, w, "|")
        for (i = 1; i <= n; i++) print k, w[i]
    }' "$tm"
}

check_mode() { # name file extractor
    name=$1 file=$2
    if [ ! -f "$file" ]; then
        echo "FAIL: $name mode: $file is missing"
        status=1
        return
    fi
    $3 >"$tmp/$name.all"
    sed -n 's/^K //p' "$tmp/$name.all" | sort -u >"$tmp/$name.K"
    sed -n 's/^B //p' "$tmp/$name.all" | sort -u >"$tmp/$name.B"
    if [ ! -s "$tmp/$name.K" ] || [ ! -s "$tmp/$name.B" ]; then
        echo "FAIL: $name mode: no word lists found in $file (has its layout changed?)"
        status=1
        return
    fi
    while read -r w; do
        grep -qx "$w" "$tmp/$name.K" ||
            { echo "FAIL: $name mode misses keyword '$w' (compiler/front/keywords.def) in $file"; status=1; }
    done <"$tmp/keywords"
    while read -r w; do
        grep -qx "$w" "$tmp/$name.B" && continue
        # a built-in that is also a reserved word (data) is highlighted as one
        grep -qx "$w" "$tmp/keywords" && grep -qx "$w" "$tmp/$name.K" && continue
        echo "FAIL: $name mode misses built-in '$w' (compiler/sema/builtins.def) in $file"
        status=1
    done <"$tmp/builtins"
    while read -r w; do
        grep -qx "$w" "$tmp/keywords" ||
            { echo "FAIL: $name mode lists '$w' as a keyword, but compiler/front/keywords.def has no such word ($file)"; status=1; }
    done <"$tmp/$name.K"
    while read -r w; do
        grep -qx "$w" "$tmp/builtins" ||
            { echo "FAIL: $name mode lists '$w' as a built-in, but compiler/sema/builtins.def has no such name ($file)"; status=1; }
    done <"$tmp/$name.B"
    echo "$name: $(wc -l <"$tmp/$name.K") keywords, $(wc -l <"$tmp/$name.B") built-ins"
}

check_mode vim "$vim" extract_vim
check_mode emacs "$emacs" extract_emacs
check_mode vscode "$tm" extract_tm
echo "compiler: $(wc -l <"$tmp/keywords") keywords, $(wc -l <"$tmp/builtins") built-ins"
[ "$status" -eq 0 ] && echo "every mode knows every word" || echo "editor modes out of date"
exit "$status"
