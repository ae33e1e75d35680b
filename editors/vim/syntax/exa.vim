" syntax/exa.vim - highlighting for .exa programs.
"
" The word lists below follow compiler/front/keywords.def (the reserved words) and
" compiler/sema/builtins.def (the built-in names); tests/editors/check-words.sh
" fails when a word of either file is missing from a `syn keyword` line here.
if exists('b:current_syntax')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn iskeyword @,48-57,_

" Reserved words (compiler/front/keywords.def).
syn keyword exaKeyword    import loss train
syn keyword exaDecl       layer fn model strategy nextgroup=exaFuncName skipwhite
syn keyword exaDecl       data param nextgroup=exaVarName skipwhite
syn keyword exaRepeat     repeat for in
syn keyword exaStatement  return
syn keyword exaType       int float class
" Strategy primitives; after combine, global, by and into the well-known words
" (additive, plain, stage, ranks, ...) are constants.
syn keyword exaPrimitive  split nextgroup=exaSplitWhat skipwhite
syn keyword exaPrimitive  local combine global coarse into by nextgroup=exaStratConst,exaStratColon skipwhite

" Built-in names (compiler/sema/builtins.def).
" operations
syn keyword exaBuiltin    tanh sigmoid relu softplus exp log sin cos sqrt abs gelu leaky_relu min clamp dropout batch_mean
syn keyword exaBuiltin    sum mean max logsumexp softmax
syn keyword exaBuiltin    flatten reshape concat transpose zeros ones
syn keyword exaBuiltin    conv maxpool d d2
" initialisers
syn keyword exaBuiltin    glorot he normal uniform
" data sources
syn keyword exaBuiltin    peaks allen_cahn idx csv npy
" optimisers
syn keyword exaBuiltin    sgd adam adamw lbfgs trust_region
syn keyword exaBuiltin    warmup step_decay cosine
" built-in strategies (data is also a reserved word, above)
syn keyword exaBuiltin    params layers mgrit admm grid neurons multilevel mgopt rmtr
" constants
syn keyword exaConstant   pi

" Names being declared: layer NAME(, model NAME(, data NAME =, param NAME:
syn match   exaFuncName   "\h\w*" contained
syn match   exaVarName    "\h\w*\ze\s*[=:]" contained

" Words of a strategy (combine additive; by: stage; relax: FCF).
syn keyword exaStratConst additive multiplicative average sum plain gradient optimizer contained
syn keyword exaStratConst ranks stage layer F FC FCF FCFCF contained
syn match   exaStratColon ":" contained nextgroup=exaStratConst skipwhite
syn keyword exaSplitWhat  params contained

" Named arguments and formals: `name:` after '(' or ',' or at the start of a
" continuation line.
syn match   exaNamedArg   "\%(^\s*\|[(,]\s*\)\@<=\h\w*\ze\s*:"
syn match   exaStratArg   "\%(^\s*\|[(,]\s*\)\@<=\%(relax\|groups\)\ze\s*:" nextgroup=exaStratColon skipwhite

" Numbers: 42, 0.5, 1e-3, 1.5E+2.
syn match   exaNumber     "\<\d\+\>"
syn match   exaFloat      "\<\d\+\.\d\+\%([eE][-+]\=\d\+\)\=\>"
syn match   exaFloat      "\<\d\+[eE][-+]\=\d\+\>"

" Operators and punctuation.
syn match   exaOperator   "[-+*/^=:]"
syn match   exaOperator   "->"
syn match   exaOperator   "\.\."
syn match   exaMatMul     "@"
syn match   exaDelimiter  "[;,]"

" Strings: one line, escapes \n \t \\ \".
syn match   exaEscape     "\\[nt\\\"]" contained
syn region  exaString     start=+"+ skip=+\\\\\|\\"+ end=+"+ end=+$+ oneline contains=exaEscape

" Comments last, so that // and /* win over the '/' operator.
syn keyword exaTodo       TODO FIXME XXX NOTE contained
syn match   exaLineComment  "//.*$" contains=exaTodo,@Spell
syn region  exaBlockComment start="/\*" end="\*/" contains=exaTodo,@Spell

hi def link exaKeyword      Keyword
hi def link exaDecl         Keyword
hi def link exaRepeat       Repeat
hi def link exaStatement    Statement
hi def link exaType         Type
hi def link exaPrimitive    Statement
hi def link exaBuiltin      Function
hi def link exaConstant     Constant
hi def link exaFuncName     Function
hi def link exaVarName      Identifier
hi def link exaStratConst   Constant
hi def link exaStratColon   Operator
hi def link exaSplitWhat    Constant
hi def link exaNamedArg     Identifier
hi def link exaStratArg     Identifier
hi def link exaNumber       Number
hi def link exaFloat        Float
hi def link exaOperator     Operator
hi def link exaMatMul       Operator
hi def link exaDelimiter    Delimiter
hi def link exaEscape       SpecialChar
hi def link exaString       String
hi def link exaTodo         Todo
hi def link exaLineComment  Comment
hi def link exaBlockComment Comment

syn sync ccomment exaBlockComment minlines=50

let b:current_syntax = 'exa'

let &cpo = s:cpo_save
unlet s:cpo_save
