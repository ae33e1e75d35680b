;;; exa-mode.el --- Major mode for the .exa neural-network language -*- lexical-binding: t -*-

;; Keywords: languages
;; Package-Requires: ((emacs "26.1"))

;;; Commentary:

;; Highlighting, indentation, comments and `M-x compile' support for .exa
;; programs.  Install by adding one line to your init file:
;;
;;     (load "/path/to/exa/editors/emacs/exa-mode.el")
;;
;; The word lists below follow compiler/front/keywords.def (the reserved words) and
;; compiler/sema/builtins.def (the built-in names); tests/editors/check-words.sh
;; fails when a word of either file is missing from them.

;;; Code:

(require 'compile)

(defgroup exa nil
  "Major mode for .exa programs."
  :group 'languages
  :prefix "exa-")

(defcustom exa-indent-offset 4
  "Indentation of a block's body, in columns."
  :type 'integer
  :safe #'integerp)

(defcustom exa-electric-pairs t
  "When non-nil, `exa-mode' turns on `electric-pair-local-mode'."
  :type 'boolean)

(defcustom exa-compiler "exac"
  "The exa compiler, run as `exac check FILE' by \\[compile]."
  :type 'string)

;;;; Word lists (compiler/front/keywords.def, compiler/sema/builtins.def)

(defconst exa-declaration-keywords
  '("import" "layer" "fn" "model" "param" "data" "loss" "train" "strategy")
  "Reserved words that start a declaration.")

(defconst exa-control-keywords
  '("repeat" "for" "in" "return")
  "Reserved words of statements.")

(defconst exa-type-keywords
  '("int" "float" "class")
  "Reserved words that name types.")

(defconst exa-strategy-keywords
  '("split" "local" "combine" "global" "coarse" "into" "by")
  "The strategy primitives.")

(defconst exa-builtins
  '(;; operations
    "tanh" "sigmoid" "relu" "softplus" "exp" "log" "sin" "cos" "sqrt" "abs" "gelu" "leaky_relu" "min" "clamp" "dropout" "batch_mean"
    "sum" "mean" "max" "logsumexp" "softmax"
    "flatten" "reshape" "concat" "transpose" "zeros" "ones"
    "conv" "maxpool" "d" "d2"
    ;; initialisers
    "glorot" "he" "normal" "uniform"
    ;; data sources
    "peaks" "allen_cahn" "idx" "csv" "npy"
    ;; optimisers
    "sgd" "adam" "adamw" "lbfgs" "trust_region"
    ;; learning-rate schedules
    "warmup" "step_decay" "cosine"
    ;; built-in strategies ("data" is also a reserved word)
    "data" "params" "layers" "mgrit" "admm" "grid" "neurons" "multilevel" "mgopt" "rmtr")
  "Built-in functions, initialisers, data sources, optimisers and strategies.")

(defconst exa-constants
  '("pi")
  "Built-in constants.")

(defconst exa-strategy-constants
  '("additive" "multiplicative" "average" "sum" "plain" "gradient" "optimizer"
    "ranks" "stage" "layer" "F" "FC" "FCF" "FCFCF")
  "Well-known words after a strategy primitive or in relax:, groups:.")

;;;; Faces

(defface exa-named-argument-face
  '((t :inherit font-lock-variable-name-face :slant italic))
  "Face for named arguments and formals: the `name' of `name: value'.")

(defface exa-number-face
  (if (facep 'font-lock-number-face)
      '((t :inherit font-lock-number-face))
    '((t :inherit font-lock-constant-face)))
  "Face for numeric literals.")

(defface exa-operator-face
  (if (facep 'font-lock-operator-face)
      '((t :inherit font-lock-operator-face))
    '((t :inherit font-lock-preprocessor-face)))
  "Face for operators: + - * / ^ @ = : -> ..")

;;;; Syntax table

(defvar exa-mode-syntax-table
  (let ((st (make-syntax-table)))
    ;; // line comments and /* block */ comments (style b for //)
    (modify-syntax-entry ?/ ". 124b" st)
    (modify-syntax-entry ?* ". 23" st)
    (modify-syntax-entry ?\n "> b" st)
    (modify-syntax-entry ?\" "\"" st)
    (modify-syntax-entry ?\\ "\\" st)
    (modify-syntax-entry ?_ "_" st)
    (dolist (c '(?+ ?- ?^ ?@ ?= ?: ?\; ?, ?. ?< ?> ?& ?| ?%))
      (modify-syntax-entry c "." st))
    st)
  "Syntax table for `exa-mode'.")

;;;; Font lock

(defconst exa--ident "[A-Za-z_][A-Za-z0-9_]*")

(defconst exa-font-lock-keywords
  (let ((ident exa--ident)
        (words (lambda (list) (regexp-opt list 'symbols))))
    `(;; declared names: layer NAME(, fn NAME(, model NAME(, strategy NAME(
      (,(concat "\\_<\\(?:layer\\|fn\\|model\\|strategy\\)\\_>[ \t]+\\(" ident "\\)")
       1 font-lock-function-name-face)
      ;; data NAME =, param NAME:
      (,(concat "\\_<\\(?:data\\|param\\)\\_>[ \t]+\\(" ident "\\)[ \t]*[=:]")
       1 font-lock-variable-name-face)
      ;; import NAME;
      (,(concat "\\_<import\\_>[ \t]+\\(" ident "\\)") 1 font-lock-constant-face)
      ;; strategy words: combine additive; by stage; relax: FCF; groups: ranks
      (,(concat "\\_<\\(?:combine\\|global\\|local\\|into\\|by\\|relax\\|groups\\)\\_>"
                "[ \t]*:?[ \t]*" (funcall words exa-strategy-constants))
       1 font-lock-constant-face)
      ("\\_<split[ \t]+\\(params\\)\\_>" 1 font-lock-constant-face)
      ;; named arguments and formals: `name:' after ( or , or at the start of a line
      (,(concat "\\(?:^\\|[(,]\\)[ \t]*\\(" ident "\\)[ \t]*:")
       1 'exa-named-argument-face)
      (,(funcall words exa-type-keywords) . font-lock-type-face)
      (,(funcall words (append exa-declaration-keywords exa-control-keywords
                               exa-strategy-keywords))
       . font-lock-keyword-face)
      (,(funcall words exa-builtins) . font-lock-builtin-face)
      (,(funcall words exa-constants) . font-lock-constant-face)
      ;; numbers: 42 0.5 1e-3 1.5E+2
      ("\\_<[0-9]+\\(?:\\.[0-9]+\\)?\\(?:[eE][-+]?[0-9]+\\)?\\_>" . 'exa-number-face)
      ;; operators
      ("->\\|\\.\\.\\|[-+*/^@=:]" . 'exa-operator-face)))
  "Font-lock rules for `exa-mode'; strings and comments come from the syntax table.")

;;;; Indentation

(defun exa--statement-indentation (pos)
  "Indentation of the statement holding POS: the line of the outermost
parenthesis or bracket open at the start of POS's line, else that line's."
  (save-excursion
    (goto-char pos)
    (let (open)
      (while (and (setq open (nth 1 (syntax-ppss (line-beginning-position))))
                  (memq (char-after open) '(?\( ?\[)))
        (goto-char open))
      (current-indentation))))

(defun exa--calculate-indentation ()
  "The column the current line should be indented to."
  (save-excursion
    (back-to-indentation)
    (let* ((first (char-after))
           (ppss (save-excursion (syntax-ppss (line-beginning-position))))
           (open (nth 1 ppss)))
      (cond
       ;; inside a block comment: stars under the opening one
       ((and (nth 4 ppss) (nth 8 ppss))
        (save-excursion
          (goto-char (nth 8 ppss))
          (+ (current-column) (if (eq first ?*) 1 3))))
       ((null open) 0)
       ((eq (char-after open) ?{)
        (let ((base (exa--statement-indentation open)))
          (if (eq first ?}) base (+ base exa-indent-offset))))
       ;; ( or [: align after the bracket when text follows it on its line
       (t
        (goto-char (1+ open))
        (skip-chars-forward " \t")
        (if (or (eolp) (looking-at-p "//"))
            (let ((base (exa--statement-indentation open)))
              (if (memq first '(?\) ?\])) base (+ base exa-indent-offset)))
          (if (memq first '(?\) ?\]))
              (progn (goto-char open) (current-column))
            (current-column))))))))

(defun exa-indent-line ()
  "Indent the current line as .exa code."
  (interactive)
  (let ((col (exa--calculate-indentation))
        (offset (- (current-column) (current-indentation))))
    (indent-line-to col)
    (when (> offset 0)
      (forward-char offset))))

;;;; Compilation: exac's `file:line:col: error|warning|note: message'

(defconst exa-compilation-regexp
  '(exac
    "^\\([^ \t\n:][^\t\n:]*\\):\\([0-9]+\\):\\([0-9]+\\): \\(?:error\\|\\(warning\\)\\|\\(note\\)\\): "
    1 2 3 (4 . 5))
  "Entry for `compilation-error-regexp-alist-alist' that reads exac's diagnostics.")

(add-to-list 'compilation-error-regexp-alist-alist exa-compilation-regexp)
(add-to-list 'compilation-error-regexp-alist 'exac)

;;;; The mode

(defun exa--imenu-index ()
  "Imenu entries for the layers, fns, models, strategies and data of a file."
  `(("Layers" . ,(exa--imenu-collect "layer"))
    ("Functions" . ,(exa--imenu-collect "fn"))
    ("Models" . ,(exa--imenu-collect "model"))
    ("Strategies" . ,(exa--imenu-collect "strategy"))
    ("Data" . ,(exa--imenu-collect "data"))))

(defun exa--imenu-collect (word)
  "Names declared at top level with WORD, for imenu."
  (let (items)
    (save-excursion
      (goto-char (point-min))
      (while (re-search-forward (concat "^" word "[ \t]+\\(" exa--ident "\\)") nil t)
        (unless (nth 8 (syntax-ppss))
          (push (cons (match-string-no-properties 1) (match-beginning 1)) items))))
    (nreverse items)))

;;;###autoload
(define-derived-mode exa-mode prog-mode "Exa"
  "Major mode for editing .exa programs.

\\{exa-mode-map}"
  :syntax-table exa-mode-syntax-table
  (setq-local font-lock-defaults '(exa-font-lock-keywords))
  (setq-local comment-start "// ")
  (setq-local comment-end "")
  (setq-local comment-start-skip "\\(?://+\\|/\\*+\\)[ \t]*")
  (setq-local comment-end-skip "[ \t]*\\*+/")
  (setq-local comment-multi-line t)
  (setq-local indent-line-function #'exa-indent-line)
  (setq-local indent-tabs-mode nil)
  (setq-local tab-width exa-indent-offset)
  (setq-local electric-indent-chars (append "{}()[]" electric-indent-chars))
  (setq-local imenu-create-index-function #'exa--imenu-index)
  (when buffer-file-name
    (setq-local compile-command
                (concat exa-compiler " check "
                        (shell-quote-argument (file-name-nondirectory buffer-file-name)))))
  (when exa-electric-pairs
    (electric-pair-local-mode 1)))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.exa\\'" . exa-mode))

(provide 'exa-mode)

;;; exa-mode.el ends here
