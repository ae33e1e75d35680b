" ftdetect/exa.vim - recognise .exa programs.
autocmd BufRead,BufNewFile *.exa setfiletype exa
