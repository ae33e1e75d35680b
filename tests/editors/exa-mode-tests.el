;;; exa-mode-tests.el --- ERT tests for editors/emacs/exa-mode.el -*- lexical-binding: t -*-

;; Run headless (run-emacs.sh does this):
;;   emacs -Q --batch -l editors/emacs/exa-mode.el \
;;         -l tests/editors/exa-mode-tests.el -f ert-run-tests-batch-and-exit
;; Faces at chosen places of sample.exa, indentation of indent.exa after its
;; leading white space is stripped, comment syntax, and exac's diagnostics
;; read by M-x compile.

;;; Code:

(require 'ert)
(require 'exa-mode)

(defconst exa-test-dir
  (file-name-directory (or load-file-name buffer-file-name))
  "tests/editors, where sample.exa and indent.exa are.")

(defmacro exa-test-with-file (file &rest body)
  "Run BODY in an `exa-mode' buffer visiting FILE of `exa-test-dir', fontified."
  (declare (indent 1))
  `(let ((buf (find-file-noselect (expand-file-name ,file exa-test-dir))))
     (unwind-protect
         (with-current-buffer buf
           (should (eq major-mode 'exa-mode))
           (font-lock-ensure)
           ,@body)
       (kill-buffer buf))))

(defun exa-test-face-at (regexp)
  "The face at the start of REGEXP's group 1 (or whole match), searched from the top."
  (goto-char (point-min))
  (unless (re-search-forward regexp nil t)
    (ert-fail (list "pattern not found" regexp)))
  (let ((pos (or (match-beginning 1) (match-beginning 0))))
    (list regexp (line-number-at-pos pos) (get-text-property pos 'face))))

(defun exa-test-faces (cases)
  "Check each (REGEXP FACE) of CASES; report all mismatches at once."
  (let (bad)
    (dolist (c cases)
      (let* ((got (exa-test-face-at (car c)))
             (face (nth 2 got))
             (want (cadr c)))
        (unless (if (listp face) (memq want face) (eq face want))
          (push (list :pattern (car c) :line (nth 1 got) :want want :got face) bad))))
    (should (equal (nreverse bad) nil))))

(ert-deftest exa-mode-auto-mode ()
  "A .exa file opens in exa-mode."
  (should (eq (assoc-default "/tmp/x.exa" auto-mode-alist #'string-match) 'exa-mode))
  (exa-test-with-file "sample.exa"
    (should (derived-mode-p 'prog-mode))))

(ert-deftest exa-mode-faces-keywords ()
  (exa-test-with-file "sample.exa"
    (exa-test-faces
     '(("^\\(import\\)" font-lock-keyword-face)
       ("^\\(loss\\)" font-lock-keyword-face)
       ("^\\(train\\) {" font-lock-keyword-face)
       ("^\\(layer\\)" font-lock-keyword-face)
       ("^\\(model\\)" font-lock-keyword-face)
       ("^\\(strategy\\)" font-lock-keyword-face)
       ("^\\(data\\) train" font-lock-keyword-face)
       ("\\(param\\) W" font-lock-keyword-face)
       ("\\_<\\(repeat\\)\\_>" font-lock-keyword-face)
       ("\\(for\\) t" font-lock-keyword-face)
       ("for t \\(in\\)" font-lock-keyword-face)
       ("\\_<\\(return\\)\\_>" font-lock-keyword-face)
       ("h: \\(float\\)" font-lock-type-face)
       ("\\_<\\(int\\)\\_>" font-lock-type-face)
       ("y: \\(class\\)" font-lock-type-face)))))

(ert-deftest exa-mode-faces-declarations ()
  (exa-test-with-file "sample.exa"
    (exa-test-faces
     '(("^layer \\(block\\)" font-lock-function-name-face)
       ("^model \\(classify\\)" font-lock-function-name-face)
       ("^strategy \\(local_adam\\)" font-lock-function-name-face)
       ("^data \\(train\\)" font-lock-variable-name-face)
       ("^data \\(test\\)" font-lock-variable-name-face)
       ("param \\(W\\)" font-lock-variable-name-face)
       ("^import \\(nn\\)" font-lock-constant-face)))))

(ert-deftest exa-mode-faces-strategy ()
  (exa-test-with-file "sample.exa"
    (exa-test-faces
     '(("^    \\(split\\)" font-lock-keyword-face)
       ("split   \\(params\\) by" font-lock-constant-face)
       ("split   params \\(by\\)" font-lock-keyword-face)
       ("stage \\(into\\)" font-lock-keyword-face)
       ("^    \\(local\\) " font-lock-keyword-face)
       ("^    \\(combine\\)" font-lock-keyword-face)
       ("^    \\(global\\)" font-lock-keyword-face)
       ("by \\(stage\\)" font-lock-constant-face)
       ("into \\(ranks\\)" font-lock-constant-face)
       ("combine \\(average\\)" font-lock-constant-face)
       ("global  \\(plain\\)" font-lock-constant-face)
       ("by: \\(stage\\)" font-lock-constant-face)
       ("groups: \\(ranks\\)" font-lock-constant-face)
       ("combine: \\(additive\\)" font-lock-constant-face)))))

(ert-deftest exa-mode-faces-builtins ()
  (exa-test-with-file "sample.exa"
    (exa-test-faces
     '(("= \\(glorot\\)" font-lock-builtin-face)
       ("= \\(zeros\\)" font-lock-builtin-face)
       ("\\(tanh\\)(W" font-lock-builtin-face)
       ("\\_<\\(sin\\)(" font-lock-builtin-face)
       ("\\_<\\(peaks\\)(" font-lock-builtin-face)
       ("\\_<\\(idx\\)(" font-lock-builtin-face)
       ("\\_<\\(adam\\)(" font-lock-builtin-face)
       ("\\_<\\(lbfgs\\)(" font-lock-builtin-face)
       ("= \\(params\\)(" font-lock-builtin-face)
       ("\\_<\\(pi\\)\\_>" font-lock-constant-face)))))

(ert-deftest exa-mode-faces-literals-comments-operators ()
  (exa-test-with-file "sample.exa"
    (exa-test-faces
     '(("samples: \\(5000\\)" exa-number-face)
       ("\\_<\\(0\\.25\\)" exa-number-face)
       ("\\(1e-3\\)" exa-number-face)
       ("1e\\(-3\\)" exa-number-face)
       ("\\(0\\)\\.\\.3" exa-number-face)
       ("0\\(\\.\\.\\)3" exa-operator-face)
       ("0\\.\\.\\(3\\)" exa-number-face)
       ("images: \\(\"\\)" font-lock-string-face)
       ("\"images\\.\\(gz\\)" font-lock-string-face)
       ("labels\\(\\\\t\\)" font-lock-string-face)
       ;; both comment kinds, with words inside that would otherwise highlight
       ("^\\(//\\) sample" font-lock-comment-delimiter-face)
       ("every token \\(class\\)" font-lock-comment-face)
       ("^\\(/\\*\\) A block" font-lock-comment-delimiter-face)
       ("several lines: \\(layer\\)" font-lock-comment-face)
       ("\\(42\\) \"not" font-lock-comment-face)
       ("42 \\(\"not\\)" font-lock-comment-face)
       ("/\\* \\(inline\\)" font-lock-comment-face)
       ;; operators
       ("W \\(@\\) u" exa-operator-face)
       (") \\(->\\) \\[n\\]" exa-operator-face)
       ("u \\(\\^\\) 2" exa-operator-face)
       ("1\\(/\\)255" exa-operator-face)
       ("h \\(\\*\\) tanh" exa-operator-face)
       ("u \\(=\\) tanh" exa-operator-face)
       ;; named arguments (and formals), also starting a continuation line
       ("\\(samples\\):" exa-named-argument-face)
       ("\\(seed\\):" exa-named-argument-face)
       ("^ +\\(scale\\):" exa-named-argument-face)
       ("\\_<\\(lr\\):" exa-named-argument-face)
       ("\\(history\\):" exa-named-argument-face)
       ("\\(groups\\):" exa-named-argument-face)))))

(ert-deftest exa-mode-indentation ()
  "Stripping indent.exa's indentation and re-indenting gives it back."
  (let* ((file (expand-file-name "indent.exa" exa-test-dir))
         (expected (with-temp-buffer (insert-file-contents file) (buffer-string))))
    (with-temp-buffer
      (insert expected)
      (exa-mode)
      (goto-char (point-min))
      (while (re-search-forward "^[ \t]+" nil t) (replace-match ""))
      (should-not (equal (buffer-string) expected))
      (indent-region (point-min) (point-max))
      (let ((want (split-string expected "\n"))
            (got (split-string (buffer-string) "\n"))
            (n 0) bad)
        (while (or want got)
          (setq n (1+ n))
          (unless (equal (car want) (car got))
            (push (format "indent.exa:%d: want %S got %S" n (car want) (car got)) bad))
          (setq want (cdr want) got (cdr got)))
        (should (equal (nreverse bad) nil))))))

(ert-deftest exa-mode-indent-closing-brace ()
  "Typing } on a body line moves it back to the block's column."
  (with-temp-buffer
    (exa-mode)
    (insert "model m(x: [2]) -> [2] {\n    repeat 2 {\n        x = x;\n        ")
    (insert "}")
    (exa-indent-line)
    (should (equal (buffer-substring (line-beginning-position) (line-end-position)) "    }"))
    (newline-and-indent)
    (should (= (current-column) 4))))

(ert-deftest exa-mode-comments ()
  "Comment syntax: // and /* */ are comments, // is what M-; inserts."
  (with-temp-buffer
    (exa-mode)
    (should (equal comment-start "// "))
    (insert "x = 1; // line { \"\n/* block ( \n */ y = 2;\n")
    (goto-char (point-min))
    (search-forward "line")
    (should (nth 4 (syntax-ppss)))
    (search-forward "block")
    (should (nth 4 (syntax-ppss)))
    (search-forward "y =")
    (should-not (nth 4 (syntax-ppss)))
    (should (= 0 (nth 0 (syntax-ppss))))   ; brackets in comments don't count
    ;; comment-region uses //
    (erase-buffer)
    (insert "loss = f(x);\n")
    (comment-region (point-min) (point-max))
    (should (equal (buffer-string) "// loss = f(x);\n"))
    (uncomment-region (point-min) (point-max))
    (should (equal (buffer-string) "loss = f(x);\n"))))

(ert-deftest exa-mode-electric-pairs ()
  (with-temp-buffer
    (exa-mode)
    (should electric-pair-mode)
    (should (memq ?} electric-indent-chars))))

(ert-deftest exa-mode-compilation-regexp ()
  "exac's diagnostics are errors, warnings and notes for M-x compile."
  (let ((out (concat
              "sample.exa:9:24: error: shape mismatch in '@': 'W' is [8, 3] but 'u' is [2]\n"
              "    9 |         u = tanh(W @ u + b);\n"
              "      |                    ^\n"
              "sample.exa:3:11: note: 'W' declared here\n"
              "dir/sample.exa:12:5: warning: unused parameter 'b'\n")))
    (should (memq 'exac compilation-error-regexp-alist))
    (let ((re (cadr (assq 'exac compilation-error-regexp-alist-alist))))
      (should (string-match re "sample.exa:9:24: error: shape mismatch"))
      (should (equal (match-string 1 "sample.exa:9:24: error: shape mismatch") "sample.exa"))
      (should-not (string-match re "    9 |         u = tanh(W @ u + b);")))
    ;; in a real compilation buffer, with only exac's rule active
    (with-temp-buffer
      (let ((compilation-error-regexp-alist '(exac)))
        (compilation-mode)
        (let ((inhibit-read-only t)) (insert out))
        (font-lock-ensure)
        (goto-char (point-min))
        (let (msgs)
          (while (let ((m (get-text-property (point) 'compilation-message)))
                   (when m
                     (let ((loc (compilation--message->loc m)))
                       (push (list (caar (compilation--loc->file-struct loc))
                                   (compilation--loc->line loc)
                                   (compilation--loc->col loc)
                                   (compilation--message->type m))
                             msgs)))
                   (= 0 (forward-line 1))))
          ;; type 2 error, 1 warning, 0 info; columns as exac prints them
          ;; (from 1, as `compilation-first-column' says)
          (should (= compilation-first-column 1))
          (should (equal (nreverse msgs)
                         '(("sample.exa" 9 24 2) ("sample.exa" 3 11 0)
                           ("dir/sample.exa" 12 5 1)))))))))

(ert-deftest exa-mode-compile-command ()
  (exa-test-with-file "sample.exa"
    (should (equal compile-command "exac check sample.exa"))))

;;; exa-mode-tests.el ends here
