" vim-test.vim - checks editors/vim in the real Vim, headless:
"     EXA_SRC=/path/to/exa vim -Nu NONE -i NONE -Es -S vim-test.vim
" Asserts the syntax group at chosen places of sample.exa, the ftplugin's
" settings and errorformat, and the indentation of indent.exa after its
" leading white space is stripped and `gg=G` re-indents it.  Prints each
" failed assertion and exits non-zero if any failed (run-vim.sh wraps this).
let s:src = $EXA_SRC
let s:here = s:src . '/tests/editors'
let &runtimepath = s:src . '/editors/vim,' . $VIMRUNTIME
let s:failures = []
let s:checks = 0

function! s:Say(msg) abort
  call writefile([a:msg], $EXA_LOG, 'a')
endfunction

function! s:Fail(msg) abort
  call add(s:failures, a:msg)
  call s:Say('FAIL: ' . a:msg)
endfunction

" Finds pat (from the top of the buffer; \zs marks the character meant) and
" checks the syntax item there (synID), the highlight group it links to, and
" that synIDtrans() resolves it to a highlighted group.
function! s:Syn(pat, group, link) abort
  let s:checks += 1
  call cursor(1, 1)
  let [l, c] = searchpos(a:pat, 'cW')
  if l == 0
    call s:Fail(printf('pattern /%s/ not found in %s', a:pat, expand('%:t')))
    return
  endif
  let id = synID(l, c, 1)
  let name = synIDattr(id, 'name')
  " the group the item links to, and the one that finally gives its colour
  let link = name ==# '' ? '' : matchstr(execute('highlight ' . name), 'links to \zs\w\+')
  let final = synIDattr(synIDtrans(id), 'name')
  if name !=# a:group || link !=# a:link || final ==# '' || final ==# name
    call s:Fail(printf('%s:%d:%d /%s/: expected %s -> %s, got %s -> %s (-> %s)',
          \ expand('%:t'), l, c, a:pat, a:group, a:link,
          \ name ==# '' ? 'no group' : name, link, final))
  endif
endfunction

function! s:Eq(what, expected, got) abort
  let s:checks += 1
  if a:expected !=# a:got
    call s:Fail(printf('%s: expected %s, got %s', a:what, string(a:expected), string(a:got)))
  endif
endfunction

filetype plugin indent on
syntax on

" ---- detection, ftplugin, compiler -----------------------------------------
execute 'edit ' . fnameescape(s:here . '/sample.exa')
call s:Eq('filetype of sample.exa', 'exa', &filetype)
call s:Eq('commentstring', '// %s', &commentstring)
call s:Eq('shiftwidth', 4, &shiftwidth)
call s:Eq('expandtab', 1, &expandtab)
call s:Eq('indentexpr', 'GetExaIndent(v:lnum)', &indentexpr)
call s:Eq('makeprg', 'exac check %:S', &makeprg)
call s:Eq('b:current_syntax', 'exa', get(b:, 'current_syntax', ''))

" exac's output: diagnostics, source lines and carets, a summary line.
let s:lines = [
      \ 'sample.exa:9:24: error: shape mismatch in ''@'': ''W'' is [8, 3] but ''u'' is [2]',
      \ '    9 |         u = tanh(W @ u + b);',
      \ '      |                    ^',
      \ 'sample.exa:3:11: note: ''W'' declared here',
      \ 'sample.exa:12:5: warning: unused parameter ''b''',
      \ '   12 |     param b: [n] = zeros;',
      \ '      |     ^~~~~',
      \ ]
" :make reads with the buffer-local 'errorformat' that compiler/exac.vim set
call s:Eq('errorformat is buffer-local', 1, &l:errorformat !=# '')
let s:qf = getqflist({'lines': s:lines, 'efm': &l:errorformat}).items
call s:Eq('quickfix entries', 3, len(s:qf))
if len(s:qf) != 3
  call s:Say(string(s:qf))
endif
if len(s:qf) == 3
  call s:Eq('qf[0] lnum/col/type', [9, 24, 'e'], [s:qf[0].lnum, s:qf[0].col, s:qf[0].type])
  call s:Eq('qf[0] text', 'shape mismatch in ''@'': ''W'' is [8, 3] but ''u'' is [2]', s:qf[0].text)
  call s:Eq('qf[0] file', 'sample.exa', fnamemodify(bufname(s:qf[0].bufnr), ':t'))
  call s:Eq('qf[0] valid', 1, s:qf[0].valid)
  call s:Eq('qf[1] lnum/col/type', [3, 11, 'n'], [s:qf[1].lnum, s:qf[1].col, s:qf[1].type])
  call s:Eq('qf[2] lnum/col/type', [12, 5, 'w'], [s:qf[2].lnum, s:qf[2].col, s:qf[2].type])
endif

" ---- syntax -----------------------------------------------------------------
execute 'buffer ' . bufnr(s:here . '/sample.exa')
" keywords and declarations
call s:Syn('^\zsimport',            'exaKeyword',   'Keyword')
call s:Syn('^\zsloss',              'exaKeyword',   'Keyword')
call s:Syn('^\zstrain {',           'exaKeyword',   'Keyword')
call s:Syn('^\zslayer',             'exaDecl',      'Keyword')
call s:Syn('^\zsmodel',             'exaDecl',      'Keyword')
call s:Syn('^\zsstrategy',          'exaDecl',      'Keyword')
call s:Syn('^\zsdata train',        'exaDecl',      'Keyword')
call s:Syn('^    \zsparam W',       'exaDecl',      'Keyword')
call s:Syn('^layer \zsblock',       'exaFuncName',  'Function')
call s:Syn('^model \zsclassify',    'exaFuncName',  'Function')
call s:Syn('^strategy \zslocal_adam', 'exaFuncName', 'Function')
call s:Syn('^data \zstrain',        'exaVarName',   'Identifier')
call s:Syn('^data \zstest',         'exaVarName',   'Identifier')
call s:Syn('param \zsW',            'exaVarName',   'Identifier')
call s:Syn('\<repeat\>',            'exaRepeat',    'Repeat')
call s:Syn('\<for\> t',             'exaRepeat',    'Repeat')
call s:Syn('for t \zsin\>',         'exaRepeat',    'Repeat')
call s:Syn('\<return\>',            'exaStatement', 'Statement')
call s:Syn('h: \zsfloat',           'exaType',      'Type')
call s:Syn('\<int\>',               'exaType',      'Type')
call s:Syn('y: \zsclass(5)',        'exaType',      'Type')
" strategy primitives and their well-known words
call s:Syn('^    \zssplit',         'exaPrimitive', 'Statement')
call s:Syn('split   \zsparams by', 'exaSplitWhat', 'Constant')
call s:Syn('split   params \zsby',  'exaPrimitive', 'Statement')
call s:Syn('stage \zsinto',         'exaPrimitive', 'Statement')
call s:Syn('^    \zslocal ',        'exaPrimitive', 'Statement')
call s:Syn('^    \zscombine',       'exaPrimitive', 'Statement')
call s:Syn('^    \zsglobal',        'exaPrimitive', 'Statement')
call s:Syn('by \zsstage',           'exaStratConst', 'Constant')
call s:Syn('into \zsranks',         'exaStratConst', 'Constant')
call s:Syn('combine \zsaverage',    'exaStratConst', 'Constant')
call s:Syn('global  \zsplain',      'exaStratConst', 'Constant')
call s:Syn('by: \zsstage',          'exaStratConst', 'Constant')
call s:Syn('groups: \zsranks',      'exaStratConst', 'Constant')
call s:Syn('combine: \zsadditive',  'exaStratConst', 'Constant')
call s:Syn('global: \zsplain',      'exaStratConst', 'Constant')
" built-in names
call s:Syn('= \zsglorot',           'exaBuiltin',   'Function')
call s:Syn('= \zszeros',            'exaBuiltin',   'Function')
call s:Syn('\<tanh(W',              'exaBuiltin',   'Function')
call s:Syn('\<sin(',                'exaBuiltin',   'Function')
call s:Syn('\<peaks(',              'exaBuiltin',   'Function')
call s:Syn('\<idx(',                'exaBuiltin',   'Function')
call s:Syn('\<adam(',               'exaBuiltin',   'Function')
call s:Syn('\<lbfgs(',              'exaBuiltin',   'Function')
call s:Syn('= \zsparams(',          'exaBuiltin',   'Function')
call s:Syn('\<pi\>',                'exaConstant',  'Constant')
" numbers
call s:Syn('samples: \zs5000',      'exaNumber',    'Number')
call s:Syn('\<0\.25',               'exaFloat',     'Float')
call s:Syn('\<1e-3',                'exaFloat',     'Float')
call s:Syn('1e\zs-3',               'exaFloat',     'Float')
call s:Syn('\<0\.\.3',              'exaNumber',    'Number')
call s:Syn('\<0\zs\.\.3',           'exaOperator',  'Operator')
call s:Syn('\<0\.\.\zs3',           'exaNumber',    'Number')
" strings
call s:Syn('images: \zs"',          'exaString',    'String')
call s:Syn('"images\.\zsgz',        'exaString',    'String')
call s:Syn('labels\zs\\t',          'exaEscape',    'SpecialChar')
" comments, both kinds, with words inside that would otherwise highlight
call s:Syn('^\zs// sample',         'exaLineComment',  'Comment')
call s:Syn('every token \zsclass',  'exaLineComment',  'Comment')
call s:Syn('^\zs/\* A block',       'exaBlockComment', 'Comment')
call s:Syn('several lines: \zslayer', 'exaBlockComment', 'Comment')
call s:Syn('\zs42 "not',            'exaBlockComment', 'Comment')
call s:Syn('42 \zs"not',            'exaBlockComment', 'Comment')
call s:Syn('/\* inline',            'exaBlockComment', 'Comment')
call s:Syn('u + b);   \zs/\*',      'exaBlockComment', 'Comment')
" operators
call s:Syn('W \zs@ u',              'exaMatMul',    'Operator')
call s:Syn(') \zs-> \[n\]',         'exaOperator',  'Operator')
call s:Syn('u \zs^ 2',              'exaOperator',  'Operator')
call s:Syn('1\zs/255',              'exaOperator',  'Operator')
call s:Syn('h \zs\* tanh',          'exaOperator',  'Operator')
call s:Syn('u \zs= tanh',           'exaOperator',  'Operator')
call s:Syn('lbfgs(history: 10)\zs;', 'exaDelimiter', 'Delimiter')
" named arguments (and formals), also at the start of a continuation line
call s:Syn('\<samples\ze:',         'exaNamedArg',  'Identifier')
call s:Syn('\<seed\ze:',            'exaNamedArg',  'Identifier')
call s:Syn('^\s*\zsscale:',         'exaNamedArg',  'Identifier')
call s:Syn('\<lr\ze:',              'exaNamedArg',  'Identifier')
call s:Syn('\<history\ze:',         'exaNamedArg',  'Identifier')
call s:Syn('\<groups\ze:',          'exaStratArg',  'Identifier')

" ---- indentation ------------------------------------------------------------
let s:expected = readfile(s:here . '/indent.exa')
enew
setfiletype exa
call setline(1, map(copy(s:expected), 'substitute(v:val, "^\\s\\+", "", "")'))
normal! gg=G
let s:got = getline(1, '$')
call s:Eq('indent.exa line count', len(s:expected), len(s:got))
for s:i in range(min([len(s:expected), len(s:got)]))
  call s:Eq(printf('indent.exa:%d', s:i + 1), s:expected[s:i], s:got[s:i])
endfor

call s:Say(printf('vim: %d checks, %d failed', s:checks, len(s:failures)))
if empty(s:failures)
  qall!
endif
cquit 1
