" compiler/exac.vim - :make runs `exac check` on the current file and reads
" exac's diagnostics into the quickfix list:
"     peaks.exa:9:24: error: shape mismatch in '@': ...
"     peaks.exa:3:11: note: 'W' declared here
" The source lines and carets exac prints under each diagnostic are skipped.
if exists('current_compiler')
  finish
endif
let current_compiler = 'exac'

if exists(':CompilerSet') != 2
  command -nargs=* CompilerSet setlocal <args>
endif

CompilerSet makeprg=exac\ check\ %:S
CompilerSet errorformat=%f:%l:%c:\ %trror:\ %m,
                       \%f:%l:%c:\ %tarning:\ %m,
                       \%f:%l:%c:\ %tote:\ %m,
                       \%-G%.%#
