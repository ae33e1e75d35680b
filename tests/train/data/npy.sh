# npy.sh - writes small NumPy .npy files from POSIX sh (no Python needed);
# sourced by bad_input.sh.
#
#   npy FILE DESCR SHAPE HEX   e.g. npy y.npy '<i8' '(40,)' "$hex"
#
# HEX is the array's data, two hex digits a byte, in file order (so
# little-endian values: 1.0f is 0000803f).  The header is format 1.0,
# padded to a multiple of 64 bytes as NumPy writes it.
npy_byte() { printf "\\$(printf %03o "$1")"; }
npy_hex() {
    h=$1
    while [ -n "$h" ]; do
        npy_byte "0x${h%"${h#??}"}"
        h=${h#??}
    done
}
npy() {
    dict="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
    hlen=$((${#dict} + 1))
    while [ $(((10 + hlen) % 64)) != 0 ]; do hlen=$((hlen + 1)); done
    {
        printf '\223NUMPY\001\000'
        npy_byte $((hlen % 256))
        npy_byte $((hlen / 256))
        printf '%s' "$dict"
        printf "%$((hlen - ${#dict} - 1))s\n" ""
        npy_hex "$4"
    } >"$1"
}
# rows N HEX_EVEN HEX_ODD [I HEX_I]: N rows alternating two rows, row I
# replaced by HEX_I
rows() {
    i=0 out=
    while [ $i -lt "$1" ]; do
        if [ $# -ge 5 ] && [ $i = "$4" ]; then out=$out$5
        elif [ $((i % 2)) = 0 ]; then out=$out$2
        else out=$out$3; fi
        i=$((i + 1))
    done
    printf '%s' "$out"
}
