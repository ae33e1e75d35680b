" indent/exa.vim - indentation of .exa programs.
"
" Inside { } a line is indented one 'shiftwidth' past the line that starts
" the statement holding the '{'; a closing '}' lines up with that line.
" Inside ( ) and [ ] a continuation line lines up after the opening bracket
" when text follows it on its line, and is indented one 'shiftwidth' past the
" opening line when the bracket ends its line.  Brackets in strings and
" comments are not counted.
if exists('b:did_indent')
  finish
endif
let b:did_indent = 1

setlocal indentexpr=GetExaIndent(v:lnum)
setlocal indentkeys=0{,0},0),0],!^F,o,O,e,0=*/
setlocal autoindent

let b:undo_indent = 'setlocal indentexpr< indentkeys< autoindent<'

if exists('*GetExaIndent')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

" True when the character at (lnum, col) is in a string or a comment.
function! s:Ignored(lnum, col) abort
  return synIDattr(synID(a:lnum, a:col, 0), 'name') =~# 'exa\%(String\|LineComment\|BlockComment\|Escape\|Todo\)'
endfunction

let s:skip = 's:Ignored(line("."), col("."))'

" The innermost bracket left open before (lnum, col), as [lnum, col], or
" [0, 0] at top level.
function! s:OpenBracket(lnum, col) abort
  let save = getcurpos()
  call cursor(a:lnum, a:col)
  let pos = searchpairpos('[({[]', '', '[)}\]]', 'bW', s:skip)
  call setpos('.', save)
  return pos
endfunction

" The indentation of the statement that line lnum belongs to: when the line
" starts inside ( ) or [ ], the line of the outermost such bracket.
function! s:StatementIndent(lnum) abort
  let lnum = a:lnum
  while 1
    let [l, c] = s:OpenBracket(lnum, 1)
    if l == 0 || getline(l)[c - 1] ==# '{'
      return indent(lnum)
    endif
    let lnum = l
  endwhile
endfunction

function! GetExaIndent(lnum) abort
  let line = getline(a:lnum)
  let first = matchstr(line, '^\s*\zs.')

  " Inside a block comment: keep the stars under the opening one.
  let col1 = match(line, '\S') + 1
  if col1 > 0 && synIDattr(synID(a:lnum, col1, 0), 'name') ==# 'exaBlockComment'
        \ && line !~# '^\s*/\*'
    let start = search('/\*', 'bnW')
    if start > 0
      let base = match(getline(start), '/\*')
      return base + (first ==# '*' ? 1 : 3)
    endif
  endif

  let [l, c] = s:OpenBracket(a:lnum, 1)
  if l == 0
    return 0
  endif
  let open = getline(l)[c - 1]
  if open ==# '{'
    let base = s:StatementIndent(l)
    return first ==# '}' ? base : base + shiftwidth()
  endif
  " ( or [: align after the bracket when text follows it on its line.
  let rest = strpart(getline(l), c)
  if rest =~# '^\s*\%(//.*\)\=$'
    let base = s:StatementIndent(l)
    return first =~# '[)\]]' ? base : base + shiftwidth()
  endif
  return first =~# '[)\]]' ? c - 1 : c + match(rest, '\S')
endfunction

let &cpo = s:cpo_save
unlet s:cpo_save
