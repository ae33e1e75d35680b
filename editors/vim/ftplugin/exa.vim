" ftplugin/exa.vim - settings for .exa buffers: comments, 4-space indentation,
" and `:make` running `exac check %` (compiler/exac.vim).
if exists('b:did_ftplugin')
  finish
endif
let b:did_ftplugin = 1

let s:cpo_save = &cpo
set cpo&vim

setlocal commentstring=//\ %s
setlocal comments=s1:/*,mb:*,ex:*/,://
setlocal formatoptions-=t formatoptions+=croql
setlocal shiftwidth=4 softtabstop=4 expandtab
setlocal matchpairs=(:),[:],{:}
setlocal suffixesadd=.exa

compiler exac

let b:undo_ftplugin = 'setlocal commentstring< comments< formatoptions< shiftwidth<'
      \ . ' softtabstop< expandtab< matchpairs< suffixesadd< makeprg< errorformat<'
      \ . ' | unlet! b:current_compiler'

let &cpo = s:cpo_save
unlet s:cpo_save
